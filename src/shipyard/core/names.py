"""Resource names (DESIGN.md §4): unique per kind, safe to use in paths and URIs."""

from __future__ import annotations

import re

from shipyard.core.errors import ValidationError

NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
MAX_NAME_LENGTH = 63  # the pattern alone admits longer names: each repeat may add hyphens
NAME_RULE = "1-63 letters, digits and hyphens, starting and ending with a letter or digit"


def validate_name(name: object, field: str = "name") -> str:
    """Return ``name`` if it is a valid resource name; else ValidationError naming ``field``."""
    if not isinstance(name, str) or len(name) > MAX_NAME_LENGTH or not NAME_PATTERN.fullmatch(name):
        shown = repr(name) if len(repr(name)) <= 80 else repr(name)[:77] + "..."
        raise ValidationError(f"{shown} is not a valid name; expected {NAME_RULE}", field)
    return name


def srn(kind: str, name: str) -> str:
    """The resource id policies match against, e.g. ``srn:shipyard:endpoint/fraud``."""
    return f"srn:shipyard:{kind}/{name}"
