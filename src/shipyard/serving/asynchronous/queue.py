"""The queue of async requests in the database: claim under a lease, renew, release, recover.

A worker claims with a compare-and-set ``UPDATE … WHERE <still claimable>`` on rows it
selected ``FOR UPDATE SKIP LOCKED`` (PostgreSQL; SQLite takes one writer at a time), so two
processes never hold one row. A claim is a lease of ``lease_seconds`` that the worker
renews while the request is in flight; a row whose lease lapsed (its process died) is
claimable again, and a row held by a process of this host that is gone is made claimable
at once (:func:`recover_dead`), so a restart takes up at once what a crash left.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

import psutil
from sqlalchemy import CursorResult, and_, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from shipyard.core.clock import as_utc
from shipyard.core.db import Database
from shipyard.serving.asynchronous.models import AsyncInference

MAX_ATTEMPTS = 5
"""Attempts at one request, those a crash cut short included."""


@dataclass(frozen=True)
class WorkerIdentity:
    """Who holds a claim: a worker of one process on one host."""

    worker_id: str
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)


@dataclass(frozen=True)
class Claimed:
    """A request this worker holds, with what answering it needs."""

    inference_id: str
    endpoint_name: str
    input_location: str
    content_type: str
    accept: str
    invocation_timeout_seconds: int
    attempts: int
    created_at: datetime


def claimable(now: datetime) -> ColumnElement[bool]:
    """Queued, due and not expired; or InProgress under a lapsed lease, attempts left."""
    return or_(
        and_(
            AsyncInference.status == "Queued",
            AsyncInference.next_attempt_at <= now,
            AsyncInference.expires_at > now,
        ),
        and_(
            AsyncInference.status == "InProgress",
            AsyncInference.lease_expires_at <= now,
            AsyncInference.attempts < MAX_ATTEMPTS,
        ),
    )


def endpoints_with_work(session: Session, now: datetime) -> list[str]:
    """The endpoints that have a claimable request."""
    query = select(AsyncInference.endpoint_name).where(claimable(now)).distinct()
    return sorted(session.scalars(query))


def claim(
    db: Database,
    endpoint_name: str,
    worker: WorkerIdentity,
    limit: int,
    now: datetime,
    lease_seconds: float,
) -> list[Claimed]:
    """Take up to ``limit`` of the endpoint's claimable requests, oldest first."""
    if limit <= 0:
        return []
    with db.session_scope() as session:
        candidates = session.scalars(
            select(AsyncInference.inference_id)
            .where(AsyncInference.endpoint_name == endpoint_name, claimable(now))
            .order_by(AsyncInference.created_at, AsyncInference.inference_id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        taken = []
        for inference_id in candidates:
            result = cast(
                CursorResult[Any],
                session.execute(
                    update(AsyncInference)
                    .where(AsyncInference.inference_id == inference_id, claimable(now))
                    .values(
                        status="InProgress",
                        attempts=AsyncInference.attempts + 1,
                        started_at=now,
                        next_attempt_at=None,
                        lease_expires_at=now + timedelta(seconds=lease_seconds),
                        worker_id=worker.worker_id,
                        worker_host=worker.host[:255],
                        worker_pid=worker.pid,
                    )
                ),
            )
            if result.rowcount == 1:
                taken.append(inference_id)
        if not taken:
            return []
        rows = session.scalars(
            select(AsyncInference)
            .where(AsyncInference.inference_id.in_(taken))
            .order_by(AsyncInference.created_at, AsyncInference.inference_id)
        )
        return [
            Claimed(
                inference_id=row.inference_id,
                endpoint_name=row.endpoint_name,
                input_location=row.input_location,
                content_type=row.content_type,
                accept=row.accept,
                invocation_timeout_seconds=row.invocation_timeout_seconds,
                attempts=row.attempts,
                created_at=as_utc(row.created_at) or row.created_at,
            )
            for row in rows
        ]


def held(worker_id: str, inference_ids: list[str]) -> ColumnElement[bool]:
    return and_(
        AsyncInference.inference_id.in_(inference_ids),
        AsyncInference.status == "InProgress",
        AsyncInference.worker_id == worker_id,
    )


def renew(
    db: Database, worker_id: str, inference_ids: list[str], now: datetime, lease_seconds: float
) -> int:
    """Extend the leases this worker still holds; how many it holds."""
    if not inference_ids:
        return 0
    with db.session_scope() as session:
        result = cast(
            CursorResult[Any],
            session.execute(
                update(AsyncInference)
                .where(held(worker_id, inference_ids))
                .values(lease_expires_at=now + timedelta(seconds=lease_seconds))
            ),
        )
        return result.rowcount


def release(db: Database, worker_id: str, inference_ids: list[str], now: datetime) -> int:
    """Give back requests still in flight (the server is stopping): Queued and due now,
    the cut-short attempt not counted; how many."""
    if not inference_ids:
        return 0
    with db.session_scope() as session:
        result = cast(
            CursorResult[Any],
            session.execute(
                update(AsyncInference)
                .where(held(worker_id, inference_ids))
                .values(
                    status="Queued",
                    attempts=AsyncInference.attempts - 1,
                    next_attempt_at=now,
                    lease_expires_at=None,
                    worker_id=None,
                    worker_pid=None,
                    worker_host=None,
                )
            ),
        )
        return result.rowcount


def recover_dead(db: Database, worker: WorkerIdentity, now: datetime) -> int:
    """End the leases that processes of this host which are gone still hold (they are
    claimable from ``now``); how many. Another host's lapse when their lease does."""
    with db.session_scope() as session:
        holders = session.execute(
            select(
                AsyncInference.worker_id, AsyncInference.worker_pid, AsyncInference.started_at
            ).where(
                AsyncInference.status == "InProgress",
                AsyncInference.worker_host == worker.host[:255],
                AsyncInference.worker_id != worker.worker_id,
                AsyncInference.lease_expires_at > now,
            )
        ).all()
        dead = {
            worker_id
            for worker_id, pid, started_at in holders
            if worker_id is not None and not _alive(pid, as_utc(started_at))
        }
        if not dead:
            return 0
        result = cast(
            CursorResult[Any],
            session.execute(
                update(AsyncInference)
                .where(
                    AsyncInference.status == "InProgress",
                    AsyncInference.worker_id.in_(dead),
                )
                .values(lease_expires_at=now)
            ),
        )
        return result.rowcount


def _alive(pid: int | None, claimed_at: datetime | None) -> bool:
    """Whether the process that claimed at ``claimed_at`` still runs (a process of that
    pid started after the claim is another one)."""
    if pid is None:
        return False
    try:
        started = psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except psutil.Error:  # not ours to look at: take it for alive, the lease decides
        return True
    return claimed_at is None or started <= claimed_at.timestamp() + 1.0


def lapsed_without_attempts(session: Session, now: datetime, limit: int = 100) -> list[str]:
    """InProgress requests whose lease lapsed with no attempt left (each crashed a process)."""
    query = (
        select(AsyncInference.inference_id)
        .where(
            AsyncInference.status == "InProgress",
            AsyncInference.lease_expires_at <= now,
            AsyncInference.attempts >= MAX_ATTEMPTS,
        )
        .limit(limit)
    )
    return list(session.scalars(query))


def expired(session: Session, now: datetime, limit: int = 100) -> list[str]:
    """Queued requests not started before their TTL ran out."""
    query = (
        select(AsyncInference.inference_id)
        .where(AsyncInference.status == "Queued", AsyncInference.expires_at <= now)
        .order_by(AsyncInference.expires_at)
        .limit(limit)
    )
    return list(session.scalars(query))
