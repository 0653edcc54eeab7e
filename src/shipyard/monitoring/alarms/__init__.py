"""Metric and composite alarms with CloudWatch semantics, their history and their actions."""
