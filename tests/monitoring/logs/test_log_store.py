"""The log store and the logs service on SQLite and PostgreSQL: streams number their
events, a filter pages through a group by pattern and hands back a token to follow from,
retention deletes what a group no longer keeps, and bad input names its field."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shipyard.compute import service as compute
from shipyard.compute.schemas import JobSpec
from shipyard.core import logstore
from shipyard.core.clock import utcnow
from shipyard.core.errors import AlreadyExists, NotFound, ValidationError
from shipyard.monitoring.logs import service
from shipyard.monitoring.logs.schemas import InputLogEvent, LogGroupIn

GROUP = "/team/etl"


def _group(database, name: str = GROUP, days: int | None = None) -> None:
    with database.session_scope() as session:
        service.create_log_group(session, LogGroupIn(name=name, retention_in_days=days))


def _put(database, stream: str, *messages: str, at=None, group: str = GROUP) -> int:
    events = [InputLogEvent(message=m, timestamp=at) for m in messages]
    with database.session_scope() as session:
        return service.put_log_events(session, group, stream, events)


def test_a_stream_numbers_its_events_as_they_are_stored(database) -> None:
    _group(database)
    assert _put(database, "nightly", "a", "b") == 2
    assert _put(database, "nightly", "c") == 3
    with database.session_scope() as session:
        page = service.get_log_events(session, GROUP, "nightly", after_seq=0)
        streams = service.list_log_streams(session, GROUP)
        group = service.describe_log_group(session, GROUP)
    assert [(e.seq, e.message) for e in page.events] == [(1, "b"), (2, "c")]
    assert page.next_seq == 2
    assert [(s.name, s.event_count, s.stored_bytes) for s in streams] == [("nightly", 3, 3)]
    assert (group.stream_count, group.stored_bytes, group.managed) == (1, 3, False)
    assert group.srn == "srn:shipyard:log-group/team/etl"


def test_a_filter_matches_a_pattern_across_the_groups_streams(database) -> None:
    _group(database)
    _put(database, "a", "INFO start", "ERROR disk full", "error lowercase")
    _put(database, "b", "ERROR timeout", "INFO done")
    with database.session_scope() as session:
        found = service.filter_log_events(session, GROUP, pattern="ERROR")
        only_b = service.filter_log_events(session, GROUP, pattern="?ERROR ?INFO", streams=["b"])
        json_free = service.filter_log_events(session, GROUP, pattern="ERROR -disk")
    assert [(e.log_stream_name, e.message) for e in found.events] == [
        ("a", "ERROR disk full"),
        ("b", "ERROR timeout"),
    ]
    assert found.complete
    assert [e.message for e in only_b.events] == ["ERROR timeout", "INFO done"]
    assert [e.message for e in json_free.events] == ["ERROR timeout"]


def test_a_filter_pages_with_its_token_then_follows_new_events(database) -> None:
    _group(database)
    _put(database, "s", *[f"line {i}" for i in range(5)])
    with database.session_scope() as session:
        first = service.filter_log_events(session, GROUP, limit=3)
        rest = service.filter_log_events(session, GROUP, next_token=first.next_token)
    assert [e.message for e in first.events] == ["line 0", "line 1", "line 2"]
    assert not first.complete
    assert [e.message for e in rest.events] == ["line 3", "line 4"]
    assert rest.complete
    _put(database, "s", "line 5")
    with database.session_scope() as session:
        followed = service.filter_log_events(session, GROUP, next_token=rest.next_token)
        quiet = service.filter_log_events(session, GROUP, next_token=followed.next_token)
    assert [e.message for e in followed.events] == ["line 5"]
    assert quiet.events == [] and quiet.complete


def test_a_filter_searches_a_bounded_number_of_events_per_call(database, monkeypatch) -> None:
    monkeypatch.setattr(service, "SCAN_CHUNK", 4)
    monkeypatch.setattr(service, "MAX_SCAN", 8)
    _group(database)
    _put(database, "s", *["noise"] * 10, "needle")
    with database.session_scope() as session:
        first = service.filter_log_events(session, GROUP, pattern="%needle%")
        second = service.filter_log_events(
            session, GROUP, pattern="%needle%", next_token=first.next_token
        )
    assert (first.events, first.complete, first.searched_events) == ([], False, 8)
    assert [e.message for e in second.events] == ["needle"]
    assert second.complete


def test_a_filter_keeps_to_its_time_range(database) -> None:
    _group(database)
    now = utcnow()
    _put(database, "s", "old", at=now - timedelta(hours=3))
    _put(database, "s", "recent", at=now - timedelta(minutes=5))
    with database.session_scope() as session:
        recent = service.filter_log_events(session, GROUP, start=now - timedelta(hours=1))
        old = service.filter_log_events(session, GROUP, end=now - timedelta(hours=1))
    assert [e.message for e in recent.events] == ["recent"]
    assert [e.message for e in old.events] == ["old"]


def test_retention_deletes_what_a_group_no_longer_keeps(database) -> None:
    _group(database, days=7)
    _group(database, "/team/forever")
    now = utcnow()
    _put(database, "gone", "ancient", at=now - timedelta(days=13))
    _put(database, "mixed", "ancient", at=now - timedelta(days=13))
    _put(database, "mixed", "fresh", at=now - timedelta(days=1))
    _put(database, "kept", "ancient", at=now - timedelta(days=13), group="/team/forever")
    assert service.expire_all(database) == 2
    with database.session_scope() as session:
        streams = {s.name: s for s in service.list_log_streams(session, GROUP)}
        forever = service.list_log_streams(session, "/team/forever")
        events = service.filter_log_events(session, GROUP).events
    assert sorted(streams) == ["mixed"]
    assert streams["mixed"].stored_bytes == len("fresh")
    assert streams["mixed"].first_event_at == streams["mixed"].last_event_at
    assert [e.message for e in events] == ["fresh"]
    assert [s.name for s in forever] == ["kept"]


def test_a_retention_policy_is_set_and_cleared(database) -> None:
    _group(database)
    with database.session_scope() as session:
        assert service.put_retention_policy(session, GROUP, 30).retention_in_days == 30
        assert service.delete_retention_policy(session, GROUP).retention_in_days is None
    with pytest.raises(ValueError, match="expected one of 1, 3, 5"):
        LogGroupIn(name="/x", retention_in_days=2)


def test_job_output_is_the_stream_named_after_the_job(database) -> None:
    now = utcnow()
    with database.session_scope() as session:
        job_id = compute.create_job(
            session,
            kind="training",
            name="fraud-1",
            spec=JobSpec(entrypoint="x"),
            owner="a",
            max_runtime_seconds=60,
        ).id
    compute.append_output(database, job_id, [(0, now, "epoch 1"), (1, now, "done")], [])
    with database.session_scope() as session:
        found = service.filter_log_events(session, "/shipyard/training-jobs", pattern="epoch")
        group = service.describe_log_group(session, "/shipyard/training-jobs")
        lines = compute.read_logs(session, job_id, after_seq=0)
    assert [(e.log_stream_name, e.message) for e in found.events] == [("fraud-1", "epoch 1")]
    assert group.managed
    assert [(line.seq, line.message) for line in lines] == [(1, "done")]


def test_a_platform_group_is_written_by_the_platform_only(database) -> None:
    with database.session_scope() as session:
        logstore.append(session, "/shipyard/pipelines/p", "run-1", [(utcnow(), "started")])
    with pytest.raises(ValidationError, match="written by the platform only") as raised:
        _put(database, "x", "forged", group="/shipyard/pipelines/p")
    assert raised.value.field == "log_group_name"
    with pytest.raises(ValidationError, match="are the platform's"):
        _group(database, "/shipyard/mine")


def test_deleting_a_group_deletes_its_streams_and_events(database) -> None:
    _group(database)
    _put(database, "s", "x")
    with database.session_scope() as session:
        service.delete_log_group(session, GROUP)
    with database.session_scope() as session, pytest.raises(NotFound, match=GROUP):
        service.describe_log_group(session, GROUP)
    _group(database)  # the name is free again, and nothing of the old group came back
    with database.session_scope() as session:
        assert service.filter_log_events(session, GROUP).events == []


def test_a_long_message_is_cut_to_cloudwatchs_limit(database) -> None:
    _group(database)
    _put(database, "s", "é" * logstore.MAX_MESSAGE_BYTES)
    with database.session_scope() as session:
        (event,) = service.get_log_events(session, GROUP, "s").events
    assert len(event.message.encode()) <= logstore.MAX_MESSAGE_BYTES
    assert event.message.endswith(logstore.TRUNCATION_MARK)


@pytest.mark.parametrize(
    ("call", "field", "needle"),
    [
        (lambda s: service.create_log_group(s, LogGroupIn(name="bad name!")), "name", "not a log"),
        (lambda s: service.put_log_events(s, GROUP, "a:b", [InputLogEvent(message="x")]),
         "log_stream_name", "without ':'"),
        (lambda s: service.put_log_events(
            s, GROUP, "s", [InputLogEvent(message="x", timestamp=utcnow() - timedelta(days=15))]
         ), "log_events.0.timestamp", "14 days"),
        (lambda s: service.put_log_events(
            s, GROUP, "s", [InputLogEvent(message="x", timestamp=utcnow() + timedelta(hours=3))]
         ), "log_events.0.timestamp", "2 hours"),
        (lambda s: service.put_log_events(s, GROUP, "s", [InputLogEvent(message="x" * 2**19)] * 2),
         "log_events", "bytes in one call"),
        (lambda s: service.filter_log_events(s, GROUP, next_token="abc"), "next_token", "token"),
        (lambda s: service.filter_log_events(s, GROUP, pattern='"o'), "pattern", "quotation"),
        (lambda s: service.filter_log_events(
            s, GROUP, start=utcnow(), end=utcnow() - timedelta(hours=1)
         ), "end_time", "after start_time"),
    ],
)  # fmt: skip
def test_bad_input_names_its_field(database, call, field: str, needle: str) -> None:
    _group(database)
    with database.session_scope() as session, pytest.raises(ValidationError) as raised:
        call(session)
    assert raised.value.field == field
    assert needle in raised.value.message


def test_unknown_groups_and_duplicates(database) -> None:
    _group(database)
    with database.session_scope() as session, pytest.raises(AlreadyExists):
        service.create_log_group(session, LogGroupIn(name=GROUP))
    with database.session_scope() as session, pytest.raises(NotFound, match="/nope"):
        service.filter_log_events(session, "/nope")
