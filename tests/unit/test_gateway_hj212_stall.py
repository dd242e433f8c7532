"""A backlog of HJ 212 frames that does not move is noticed: counted, logged, in the status."""

from __future__ import annotations

import logging

import pytest

from envgrid_common.hj212 import parse_frame
from envgrid_gateway.adapters.hj212.stall import StallWatch
from tests.polling import wait_until
from tests.unit.hj212_listener_support import FakeBridge, connect, listener, read_until, upload


class Clock:
    """A hand-moved monotonic clock."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_wait_counts_from_the_first_frame_waiting_not_from_the_last_store() -> None:
    clock = Clock()
    watch = StallWatch(10.0, clock)
    assert watch.stalled_s() == 0.0
    clock.now += 500  # idle: nothing waits, so nothing is stalled
    watch.handed()
    clock.now += 4
    assert watch.stalled_s() == 4.0
    assert watch.check() is None


def test_a_stall_is_reported_once_and_its_length_told_when_frames_move_again() -> None:
    clock = Clock()
    watch = StallWatch(10.0, clock)
    watch.handed()
    watch.handed()
    clock.now += 12
    assert watch.check() == 12.0
    clock.now += 3
    assert watch.check() is None  # the same stall
    assert watch.stalls == 1
    assert watch.stored() == 15.0
    assert watch.stalled_s() == 0.0  # one still waits, but the backlog moved just now
    clock.now += 11
    assert watch.check() == 11.0  # a second stall
    assert watch.stalls == 2
    assert watch.stored() == 11.0
    assert watch.stalled_s() == 0.0


def test_frames_stored_in_time_are_no_stall() -> None:
    clock = Clock()
    watch = StallWatch(10.0, clock)
    for _ in range(100):
        watch.handed()
        clock.now += 1
        assert watch.stored() is None
        assert watch.check() is None
    assert watch.stalls == 0


def test_the_listener_reports_a_stalled_disk_buffer_and_answers_once_it_moves(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="envgrid.gateway.hj212")
    bridge = FakeBridge(hold=True)  # the buffer's writer does not commit
    with listener(bridge, hj212_stall_s=0.5) as adapter, connect(adapter) as sock:
        sock.sendall(upload(qn="20260501080000123"))
        wait_until(lambda: adapter.counters()["hj212_stalls"] == 1, 10, "the stall noticed")
        assert adapter.counters()["hj212_unanswered"] == 1
        wait_until(
            lambda: adapter.counters()["hj212_unanswered_stalled_s"] >= 1, 10, "its age shown"
        )
        assert any("none was stored for" in r.getMessage() for r in caplog.records)
        bridge.release()
        assert parse_frame(read_until(sock, b"\r\n")).cn == "9014"
        wait_until(lambda: adapter.counters()["hj212_unanswered_stalled_s"] == 0, 5, "cleared")
        assert any("stored again after a stall" in r.getMessage() for r in caplog.records)
        assert adapter.counters()["hj212_stalls"] == 1
