"""Autoscaling: target-tracking policies that grow and shrink a variant's instances."""
