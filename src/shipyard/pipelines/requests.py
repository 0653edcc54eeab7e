"""The request type each job-like step is built from: a room's own Create… request, less
the name, which the engine gives (``<pipeline>-<step>-<execution>``)."""

from __future__ import annotations

import importlib
from typing import Any

from pydantic import BaseModel

# step type → (module, class) of the room's request; imported when first needed
REQUEST_TYPES = {
    "Processing": ("shipyard.processing.schemas", "ProcessingJobIn"),
    "Training": ("shipyard.training.schemas", "TrainingJobIn"),
    "Tuning": ("shipyard.tuning.schemas", "TuningJobIn"),
    "Transform": ("shipyard.serving.batch.schemas", "TransformJobIn"),
    "RegisterModel": ("shipyard.registry.schemas", "ModelPackageIn"),
}
NAMED_BY_ENGINE = {"name"}


def request_type(step_type: str) -> type[BaseModel]:
    module, name = REQUEST_TYPES[step_type]
    return getattr(importlib.import_module(module), name)


def argument_names(step_type: str) -> set[str]:
    """The arguments a step of this type takes."""
    return set(request_type(step_type).model_fields) - NAMED_BY_ENGINE


def build_request(step_type: str, name: str | None, arguments: dict[str, Any]) -> Any:
    """The room's request from resolved arguments; pydantic errors name the argument."""
    values = dict(arguments) if name is None else {"name": name, **arguments}
    return request_type(step_type).model_validate(values)
