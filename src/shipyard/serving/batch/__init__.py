"""Batch transform jobs: a model's predictions over files, as a job on the executor."""
