"""Monitoring: metrics with statistics and roll-ups, alarms that act, topics that notify."""
