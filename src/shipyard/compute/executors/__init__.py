"""Executors: where a job attempt runs. Picked by a short name from one table."""

from __future__ import annotations

import importlib

from shipyard.compute.executors.base import BaseExecutor, RunningJob
from shipyard.core.config import Settings
from shipyard.core.errors import ValidationError

EXECUTORS = {"local": "shipyard.compute.executors.local:LocalExecutor"}


def make_executor(settings: Settings) -> BaseExecutor:
    try:
        module_name, class_name = EXECUTORS[settings.executor].split(":")
    except KeyError:
        raise ValidationError(
            f"unknown executor {settings.executor!r}; expected one of {sorted(EXECUTORS)}",
            "executor",
        ) from None
    executor_class = getattr(importlib.import_module(module_name), class_name)
    return executor_class(settings)


__all__ = ["EXECUTORS", "BaseExecutor", "RunningJob", "make_executor"]
