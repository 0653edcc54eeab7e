"""The alarms' states, for the rooms that act on them (a rollout watches its rollback
alarms). The alarms service imports the rooms its actions call, so this reader stands
apart from it."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from shipyard.monitoring.alarms.models import Alarm


def alarm_states(session: Session, names: Sequence[str]) -> dict[str, tuple[str, str]]:
    """``{name: (state value, state reason)}`` of those of ``names`` that exist."""
    query = select(Alarm.name, Alarm.state_value, Alarm.state_reason).where(Alarm.name.in_(names))
    return {name: (state, reason) for name, state, reason in session.execute(query)}
