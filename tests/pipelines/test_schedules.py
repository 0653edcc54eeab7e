"""Schedules take each cron slot once, however many schedulers share the database, and
follow their missed-slot policy after downtime; triggers start one execution per new file."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from croniter import croniter

from shipyard.core.artifacts import open_store
from shipyard.core.config import Settings
from shipyard.core.db import Database
from shipyard.core.errors import ValidationError
from shipyard.pipelines import schedules, service
from shipyard.pipelines.schemas import PipelineIn, ScheduleIn, TriggerIn
from shipyard.security.service import ensure_user

NIGHTLY = "0 2 * * *"
DEFINITION = {
    "parameters": [{"name": "InputData", "type": "String", "default_value": "none"}],
    "steps": [{"name": "stop-here", "type": "Fail", "arguments": {"error_message": "test"}}],
}


@pytest.fixture
def nightly(database: Database) -> Database:
    with database.session_scope() as session:
        ensure_user(session, "admin")
        service.upsert_pipeline(
            session, "forecast", PipelineIn.model_validate({"definition": DEFINITION}), "admin"
        )
    return database


def add_schedule(db: Database, name: str = "nightly", **options: object) -> None:
    with db.session_scope() as session:
        schedules.create_schedule(
            session,
            "forecast",
            ScheduleIn.model_validate({"name": name, "cron": NIGHTLY, **options}),
            "admin",
        )


def next_slot() -> datetime:
    return croniter(NIGHTLY, datetime.now(UTC)).get_next(datetime)


def executions(db: Database) -> list[dict[str, object]]:
    with db.session_scope() as session:
        items = service.list_executions(session, pipeline_name="forecast", limit=100, offset=0)
    return [{"id": e.id, "trigger": e.trigger, "parameters": e.parameters} for e in items]


def test_a_slot_runs_once_and_only_after_its_time(nightly: Database) -> None:
    add_schedule(nightly)
    slot = next_slot()
    assert schedules.run_due_schedules(nightly, slot - timedelta(seconds=1)) == []
    started = schedules.run_due_schedules(nightly, slot + timedelta(seconds=1))
    assert len(started) == 1
    assert schedules.run_due_schedules(nightly, slot + timedelta(seconds=30)) == []
    assert executions(nightly)[0]["trigger"] == f"schedule:nightly@{slot.isoformat()}"


def test_two_schedulers_at_the_same_moment_take_the_slot_once(nightly: Database) -> None:
    add_schedule(nightly)
    moment = next_slot() + timedelta(seconds=1)
    others = [Database(nightly.url) for _ in range(4)]
    barrier = threading.Barrier(len(others))
    started: list[str] = []

    def scheduler(db: Database) -> None:
        barrier.wait()
        started.extend(schedules.run_due_schedules(db, moment))

    threads = [threading.Thread(target=scheduler, args=(db,)) for db in others]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for db in others:
        db.dispose()
    assert len(started) == 1
    assert len(executions(nightly)) == 1


def test_after_downtime_only_the_latest_missed_slot_runs_once(nightly: Database) -> None:
    add_schedule(nightly)
    slot = next_slot() + timedelta(days=2)  # three nights missed
    back = slot + timedelta(hours=5)
    assert len(schedules.run_due_schedules(nightly, back)) == 1
    assert schedules.run_due_schedules(nightly, back + timedelta(minutes=1)) == []
    assert executions(nightly)[0]["trigger"].endswith(slot.isoformat())


def test_the_skip_policy_records_a_missed_slot_without_running_it(nightly: Database) -> None:
    add_schedule(nightly, missed_slots="skip")
    slot = next_slot()
    assert schedules.run_due_schedules(nightly, slot + timedelta(hours=3)) == []
    assert executions(nightly) == []
    on_time = slot + timedelta(days=1, seconds=5)
    assert len(schedules.run_due_schedules(nightly, on_time)) == 1


def test_bad_schedules_are_refused_naming_the_field(nightly: Database) -> None:
    for options, needle in (
        ({"cron": "61 * * * *"}, "cron: '61 * * * *' is not a cron expression"),
        ({"cron": "every night"}, "cron:"),
        ({"timezone": "Mars/Olympus"}, "timezone:"),
        ({"parameters": {"Nope": 1}}, "parameters.Nope"),
    ):
        with pytest.raises(ValidationError, match=re.escape(needle)):
            add_schedule(nightly, **options)


def test_a_trigger_starts_one_execution_per_new_file(nightly: Database, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "old.csv").write_text("a\n1\n")
    settings = Settings(home=tmp_path / "home", data_roots=[tmp_path])
    store = open_store(settings.resolved_artifact_uri, None)
    request = TriggerIn(name="on-data", source=str(landing), parameter_name="InputData")
    with nightly.session_scope() as session:
        schedules.create_trigger(session, settings, store, "forecast", request, "admin")
    assert schedules.run_triggers(nightly, settings, store) == []
    (landing / "new.csv").write_text("a\n2\n")
    assert len(schedules.run_triggers(nightly, settings, store)) == 1
    assert schedules.run_triggers(nightly, settings, store) == []
    [execution] = executions(nightly)
    assert execution["parameters"] == {"InputData": (landing / "new.csv").as_uri()}
    assert execution["trigger"] == "data:on-data"
    with nightly.session_scope() as session, pytest.raises(ValidationError, match="source"):
        schedules.create_trigger(
            session, settings, store, "forecast", TriggerIn(name="x", source="/etc"), "admin"
        )
