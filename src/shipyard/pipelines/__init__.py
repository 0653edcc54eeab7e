"""Pipelines: versioned DAGs of steps, run by an engine in the scheduler, on cron or on data."""
