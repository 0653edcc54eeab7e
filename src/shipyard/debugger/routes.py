"""HTTP routes of the debugger room: the deliveries of a training job's Notify actions.

A job's rule configurations and evaluation statuses are part of the training job's own
description (``GET /api/v1/training-jobs/{name}``).
"""

from __future__ import annotations

from fastapi import APIRouter

from shipyard.core.names import srn
from shipyard.core.web import AuthorizeDep, ContextDep
from shipyard.debugger import notifications
from shipyard.debugger.schemas import NotificationDeliveriesOut
from shipyard.training import service as training

router = APIRouter(prefix="/api/v1/training-jobs", tags=["debugger"])


@router.get("/{name}/debugger-notifications", response_model=NotificationDeliveriesOut)
def list_debugger_notifications(
    name: str, context: ContextDep, authorize: AuthorizeDep
) -> NotificationDeliveriesOut:
    """Each Notify action's delivery: Pending, Delivered or Failed, with its attempts."""
    authorize("debugger:ListNotificationDeliveries", srn("training-job", name))
    with context.db.session_scope() as session:
        job_id = training.job_id_of(session, name)
        deliveries = notifications.list_deliveries(session, job_id)
    return NotificationDeliveriesOut(deliveries=deliveries)
