"""serving/comparison.py and the shadow's side of the instance protocol: a shadow instance
answers the copies it gets (no reply goes back), compares them with production's answers,
and hands its tallies over when asked, in order after the copies sent before; the shadow
runner counts copies that no instance got as the shadow's errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from shipyard.serving import wire
from shipyard.serving.comparison import Comparisons, Tally, tallies_of
from shipyard.serving.fleet import InstanceSpec, NoInstanceAnswers, VariantFleet
from shipyard.serving.instance import Answerer, InstanceProtocol
from shipyard.serving.loading import ModelSource
from shipyard.serving.shadow import ShadowRunner, ShadowTask, shadow_report

JSON = "application/json"
MINUTE = 1_796_000_040  # a minute's start, in seconds since the epoch


class Doubling:
    """A model that predicts twice the first feature of each row."""

    def predict(self, rows: Any) -> dict[str, Any]:
        return {"predictions": [float(row[0]) * 2 for row in np.asarray(rows)]}


class Collected:
    """A transport that keeps what is written to it."""

    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def is_closing(self) -> bool:
        return False


def copy_of(rows: list[list[float]], production: list[float], latency_us: float = 40.0) -> bytes:
    answer = json.dumps({"predictions": production}).encode()
    copy = wire.Copy(json.dumps(rows).encode(), "champion", (answer, JSON), latency_us, MINUTE)
    return wire.copy_frame(JSON, JSON, copy)


def replies_in(written: list[bytes]) -> list[wire.Reply]:
    return [wire.decode_reply(frame) for frame in wire.take_frames(bytearray(b"".join(written)))]


def test_a_copy_frame_carries_the_request_and_productions_answer() -> None:
    copy = wire.Copy(b"[[1, 2]]", "champion", (b'{"predictions": [3]}', JSON), 41.5, MINUTE)
    frame = wire.take_frames(bytearray(wire.copy_frame("text/csv", JSON, copy)))[0]
    request = wire.decode_request(frame)
    assert (request.kind, request.content_type, request.accept) == (wire.COPY, "text/csv", JSON)
    assert wire.decode_copy(request) == copy


def test_a_shadow_instance_answers_copies_silently_and_hands_over_its_tallies() -> None:
    protocol = InstanceProtocol(Answerer(Doubling()), None)  # type: ignore[arg-type]
    transport = Collected()
    protocol.connection_made(transport)  # type: ignore[arg-type]
    frames = [
        wire.request_frame(7, JSON, JSON, b"[[5, 0]]"),  # an invocation: answered
        copy_of([[1, 0], [2, 0]], [2.0, 4.0]),  # the shadow agrees on both rows
        copy_of([[3, 0]], [5.0]),  # the shadow says 6: off by one
        copy_of([["not", "numbers"]], [1.0]),  # the shadow fails on it
        wire.request_frame(8, "", "", b"", wire.TALLIES),
    ]
    protocol.data_received(b"".join(frames))
    invoked, tallies = replies_in(transport.written)
    assert (invoked.id, invoked.status, json.loads(invoked.body)) == (
        7,
        200,
        {"predictions": [10.0]},
    )
    assert tallies.id == 8
    ((key, tally),) = tallies_of(tallies.body)
    assert key == ("champion", MINUTE)
    assert (tally.requests, tally.shadow_errors, tally.rows, tally.agreed_rows) == (3, 1, 3, 2)
    assert (tally.numeric_rows, tally.absolute_difference) == (3, 1.0)
    assert sum(tally.production_latency.values()) == sum(tally.shadow_latency.values()) == 3

    transport.written.clear()
    protocol.data_received(wire.request_frame(9, "", "", b"", wire.TALLIES))
    (again,) = replies_in(transport.written)
    assert tallies_of(again.body) == []  # handed over once


def test_tallies_add_up_by_production_variant_and_minute() -> None:
    comparisons = Comparisons()
    answer = (b'{"predictions": [1, 0]}', JSON)
    comparisons.add(("a", MINUTE), answer, 30.0, answer, 50.0)
    comparisons.add(("a", MINUTE), answer, 30.0, None, 70.0)
    comparisons.add(("b", MINUTE + 60), answer, 30.0, (b"1\n1\n", "text/csv"), 50.0)
    # answers that hold no predictions list: the shadow's is an error, production's is not
    # compared; neither stops the instance
    comparisons.add(("b", MINUTE + 60), answer, 30.0, (b'{"predictions": 3}', JSON), 50.0)
    comparisons.add(("b", MINUTE + 60), (b"<html>", JSON), 30.0, answer, 50.0)
    found = dict(tallies_of(comparisons.take()))
    assert (found[("a", MINUTE)].requests, found[("a", MINUTE)].shadow_errors) == (2, 1)
    later = found[("b", MINUTE + 60)]
    assert (later.requests, later.shadow_errors, later.rows, later.agreed_rows) == (3, 1, 2, 1)
    merged = found[("a", MINUTE)].merged(later)
    assert (merged.requests, merged.rows, sum(merged.shadow_latency.values())) == (5, 4, 5)
    assert Tally.from_document(json.loads(json.dumps(merged.__dict__))) == merged


@pytest.fixture
def runner(api) -> ShadowRunner:
    return ShadowRunner(api.client.app.state.context.db)


def test_copies_no_shadow_instance_got_are_the_shadows_errors(api, runner) -> None:
    spec = InstanceSpec("shadowed", "challenger", ModelSource("m", "file:///none", None, False))
    fleet = VariantFleet(None, spec, lambda stream, line: None)  # type: ignore[arg-type]
    with pytest.raises(NoInstanceAnswers):
        fleet.send_copies(b"", 1)
    at = datetime(2026, 12, 4, 10, 30, 15, tzinfo=UTC)
    for _ in range(3):
        runner.submit(
            ShadowTask(
                "shadowed",
                "champion",
                "challenger",
                fleet,
                (JSON, JSON, b"[[1]]"),
                (b'{"predictions": [1]}', JSON),
                25.0,
                at.timestamp(),
            )
        )
    runner.drain()
    assert runner.flush() == 1  # one minute of one production variant
    with api.client.app.state.context.db.session_scope() as session:
        report = shadow_report(
            session, "shadowed", at - timedelta(hours=1), at + timedelta(hours=1)
        )
    (shadow,) = report.shadows
    assert (shadow.requests, shadow.shadow_errors, shadow.rows_compared) == (3, 3, 0)
    assert shadow.shadow_latency_ms.p50 is None  # no answer, no latency
    assert shadow.production_latency_ms.p50 is not None
