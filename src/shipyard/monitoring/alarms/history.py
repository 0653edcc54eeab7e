"""An alarm's history: every state change, configuration change and action, in order."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from shipyard.core.clock import as_utc, utcnow
from shipyard.monitoring.alarms.models import AlarmHistory
from shipyard.monitoring.alarms.schemas import AlarmHistoryItemOut

STATE_UPDATE, ACTION, CONFIGURATION_UPDATE = "StateUpdate", "Action", "ConfigurationUpdate"
ITEM_TYPES = (STATE_UPDATE, ACTION, CONFIGURATION_UPDATE)


def record(
    session: Session, alarm_name: str, item_type: str, summary: str, data: dict[str, Any]
) -> AlarmHistory:
    """Add one event (flushed, so its ``id`` is known)."""
    row = AlarmHistory(
        alarm_name=alarm_name,
        item_type=item_type,
        summary=summary,
        data=data,
        timestamp=utcnow(),
    )
    session.add(row)
    session.flush()
    return row


def list_history(
    session: Session,
    alarm_name: str,
    *,
    item_type: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[AlarmHistoryItemOut]:
    """Newest first."""
    query = select(AlarmHistory).where(AlarmHistory.alarm_name == alarm_name)
    if item_type is not None:
        query = query.where(AlarmHistory.item_type == item_type)
    rows = session.scalars(query.order_by(AlarmHistory.id.desc()).limit(limit).offset(offset))
    return [history_out(row) for row in rows]


def delete_history(session: Session, alarm_name: str) -> None:
    session.execute(delete(AlarmHistory).where(AlarmHistory.alarm_name == alarm_name))


def history_out(row: AlarmHistory) -> AlarmHistoryItemOut:
    return AlarmHistoryItemOut(
        id=row.id,
        alarm_name=row.alarm_name,
        item_type=row.item_type,
        summary=row.summary,
        data=row.data,
        timestamp=as_utc(row.timestamp) or row.timestamp,
    )
