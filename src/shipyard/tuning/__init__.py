"""Hyperparameter tuning jobs: many training jobs, chosen by Optuna, toward one objective."""
