"""Authorization: policy statements with wildcards, where an explicit Deny always wins.

Every route calls :func:`authorize` with an action (``<room>:<Operation>``) and a
resource id (``srn:shipyard:<kind>/<name>``) before it acts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from shipyard.core.errors import AccessDenied

ADMINISTRATOR_ACCESS: dict[str, Any] = {
    "name": "AdministratorAccess",
    "statements": [{"effect": "Allow", "actions": ["*"], "resources": ["*"]}],
}


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user and the policies attached to them."""

    name: str
    policies: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    key_id: str | None = None


def is_allowed(principal: Principal, action: str, resource: str) -> bool:
    allowed = False
    for policy in principal.policies:
        for statement in policy.get("statements", []):
            if not _matches(statement, action, resource):
                continue
            if statement.get("effect") == "Deny":
                return False
            allowed = allowed or statement.get("effect") == "Allow"
    return allowed


def authorize(principal: Principal, action: str, resource: str) -> None:
    """Raise AccessDenied unless ``principal`` may do ``action`` on ``resource``."""
    if not is_allowed(principal, action, resource):
        raise AccessDenied(f"{principal.name} is not allowed to {action} on {resource}")


def _matches(statement: dict[str, Any], action: str, resource: str) -> bool:
    actions = statement.get("actions", [])
    resources = statement.get("resources", [])
    return any(fnmatchcase(action, a) for a in actions) and any(
        fnmatchcase(resource, r) for r in resources
    )
