"""Imports every room's tables so ``Base.metadata`` is complete (migrations, tests)."""

from __future__ import annotations

import importlib

TABLE_MODULES = (
    "shipyard.compute.models",
    "shipyard.core.logstore",
    "shipyard.data.models",
    "shipyard.debugger.models",
    "shipyard.lineage.models",
    "shipyard.monitoring.alarms.models",
    "shipyard.monitoring.metrics.models",
    "shipyard.monitoring.topics.models",
    "shipyard.pipelines.models",
    "shipyard.processing.models",
    "shipyard.registry.models",
    "shipyard.security.models",
    "shipyard.serving.asynchronous.models",
    "shipyard.serving.autoscaling.models",
    "shipyard.serving.batch.models",
    "shipyard.serving.models",
    "shipyard.serving.rollouts.models",
    "shipyard.training.models",
    "shipyard.tuning.models",
)


def import_all_tables() -> None:
    for module in TABLE_MODULES:
        importlib.import_module(module)
