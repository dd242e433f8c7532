"""The edge outbox: order, deletion on acknowledgement, bounds and their policy, restarts."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from envgrid_common.clock import ManualSeconds
from envgrid_common.outbox import (
    Bounds,
    Kind,
    Outbox,
    OutboxLocked,
    OutMessage,
    Row,
    mark_historical,
    wire_payload,
)

TOPIC = "envgrid/v1/nodes/n1/readings"


def reading(seq: int) -> OutMessage:
    return OutMessage(Kind.READING, TOPIC, json.dumps({"seq": seq}).encode())


def detection(seq: int) -> OutMessage:
    return OutMessage(Kind.DETECTION, "envgrid/v1/nodes/c1/detections", b'{"seq":%d}' % seq)


def status(node: str, state: str) -> OutMessage:
    body = json.dumps({"state": state}).encode()
    return OutMessage(Kind.STATUS, f"envgrid/v1/nodes/{node}/status", body, retain=True, key=node)


def seqs(rows: list[Row]) -> list[int]:
    return [json.loads(r.payload).get("seq", -1) for r in rows]


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "outbox.sqlite"


@pytest.fixture
def box(path: Path) -> Iterator[Outbox]:
    outbox = Outbox(path)
    yield outbox
    outbox.close()


def test_rows_are_taken_first_in_first_out(box: Outbox) -> None:
    for seq in range(1, 6):
        box.put([reading(seq)])
    assert seqs(box.take(3)) == [1, 2, 3]
    assert seqs(box.take(10)) == [4, 5]
    assert box.take(10) == []
    assert len(box) == 5, "taking is not deleting"


def test_rows_leave_only_when_acknowledged_and_come_back_after_a_restart(path: Path) -> None:
    with Outbox(path) as box:
        ids = box.put([reading(s) for s in (1, 2, 3, 4)])
        box.take(4)
        box.ack([ids[0], ids[2]])
        assert len(box) == 2
        assert box.stats().in_flight == 2
    with Outbox(path) as box:
        # What was in flight but unacknowledged is sent again, in order.
        assert seqs(box.take(10)) == [2, 4]


def test_only_rows_handed_over_can_be_acknowledged(box: Outbox) -> None:
    ids = box.put([reading(1), reading(2)])
    box.ack(ids)  # never taken: a stray PUBACK must not delete a queued row
    assert len(box) == 2


def test_refused_rows_are_deleted_and_counted(box: Outbox) -> None:
    ids = box.put([reading(1), reading(2)])
    box.take(2)
    box.ack([ids[0]], refused=[ids[1]])
    assert len(box) == 0
    assert box.stats().refused == 1


def test_backlog_means_rows_wait_to_be_handed_over(box: Outbox) -> None:
    assert not box.backlog
    box.put([reading(1)])
    assert box.backlog
    box.take(1)
    assert not box.backlog
    box.put([status("n1", "online")])
    assert not box.backlog, "a status is not a backlog of readings"


def test_statuses_go_first_and_only_the_newest_pending_one_per_node_is_kept(box: Outbox) -> None:
    box.put([reading(1)])
    box.put([status("n1", "online")])
    box.put([reading(2)])
    box.put([status("n1", "offline")])
    box.put([status("n2", "online")])
    rows = box.take(10)
    assert [r.kind for r in rows] == [Kind.STATUS, Kind.STATUS, Kind.READING, Kind.READING]
    assert [json.loads(r.payload).get("state") for r in rows[:2]] == ["offline", "online"]
    assert box.stats().superseded == 1
    assert len(box) == 4


def test_a_status_in_flight_is_not_superseded(box: Outbox) -> None:
    box.put([status("n1", "online")])
    (first,) = box.take(1)
    box.put([status("n1", "offline")])
    assert len(box) == 2, "the broker client already has the first: it stays until its PUBACK"
    (second,) = box.take(1)
    assert json.loads(second.payload)["state"] == "offline"
    box.ack([first.id, second.id])
    assert len(box) == 0


def test_after_a_crash_only_the_newest_status_survives(path: Path) -> None:
    with Outbox(path) as box:
        box.put([status("n1", "online")])
        box.take(1)  # in flight when the process died
        box.put([status("n1", "offline")])
    with Outbox(path) as box:
        rows = box.take(10)
        assert [json.loads(r.payload)["state"] for r in rows] == ["offline"]


def test_full_outbox_drops_the_oldest_readings_and_keeps_events_and_statuses(path: Path) -> None:
    with Outbox(path, Bounds(max_rows=5)) as box:
        box.put([detection(100)])
        box.put([status("n1", "online")])
        for seq in range(1, 11):
            box.put([reading(seq)])
        assert len(box) == 5
        assert box.stats().dropped_full == 7
        rows = box.take(10)
        assert {r.kind for r in rows} == {Kind.STATUS, Kind.DETECTION, Kind.READING}
        assert seqs([r for r in rows if r.kind is Kind.READING]) == [8, 9, 10]
    with Outbox(path, Bounds(max_rows=5)) as box:
        assert box.stats().dropped_full == 7, "drop counts persist"


def test_readings_in_flight_are_not_dropped(path: Path) -> None:
    with Outbox(path, Bounds(max_rows=4)) as small:
        small.put([reading(1), reading(2)])
        small.take(2)  # the broker client has them
        for seq in range(3, 8):
            small.put([reading(seq)])
        assert len(small) == 4
        assert seqs(small.take(10)) == [6, 7]  # 3, 4, 5 dropped; 1 and 2 await their PUBACK


def test_byte_bound_drops_enough_oldest_readings(path: Path) -> None:
    size = len(reading(10).payload) + len(TOPIC)
    with Outbox(path, Bounds(max_bytes=size * 4)) as box:
        for seq in range(10, 20):
            box.put([reading(seq)])
        stats = box.stats()
        assert stats.bytes <= size * 4
        assert stats.rows == 4
        assert stats.dropped_full == 6
        assert seqs(box.take(10)) == [16, 17, 18, 19]


def test_only_kept_kinds_left_may_exceed_the_bound_with_a_warning(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING), Outbox(path, Bounds(max_rows=3)) as box:
        for seq in range(5):
            box.put([detection(seq)])
        stats = box.stats()
        assert stats.rows == 5
        assert stats.over_bound
        assert stats.dropped_full == 0
        box.put([reading(1)])  # a reading has no place in a box full of events
        assert box.stats().rows == 5
        assert box.stats().dropped_full == 1
    assert any("over its bounds" in r.message for r in caplog.records)


def test_readings_older_than_the_age_bound_are_dropped(path: Path) -> None:
    clock = ManualSeconds(1_800_000_000.0)
    with Outbox(path, Bounds(max_age_s=3600), clock=clock) as box:
        box.put([reading(1), reading(2), detection(9)])
        clock.now += 1800
        box.put([reading(3)])
        assert box.purge_expired() == 0
        clock.now += 1801
        assert box.purge_expired() == 2
        rows = box.take(10)
        assert [r.kind for r in rows] == [Kind.DETECTION, Kind.READING]
        assert box.stats().dropped_expired == 2
        assert box.stats().oldest_age_s == pytest.approx(3601)


def test_counters_are_committed_with_the_rows(path: Path) -> None:
    with Outbox(path) as box:
        assert box.counter("seq/n1", 1) == 1
        box.put([reading(1)], counters={"seq/n1": 2})
        box.put([reading(2)], counters={"seq/n1": 3})
        assert box.counter("seq/n1") == 3
    with Outbox(path) as box:
        assert box.counter("seq/n1") == 3


def test_a_failed_put_stores_neither_rows_nor_counters(
    box: Outbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    box.put([reading(1)], counters={"seq/n1": 2})

    def broken() -> None:
        raise OSError("disk full")

    monkeypatch.setattr(box, "_enforce_bounds", broken)
    with pytest.raises(OSError, match="disk full"):
        box.put([reading(2)], counters={"seq/n1": 3})
    monkeypatch.undo()
    assert box.counter("seq/n1") == 2
    assert len(box) == 1
    assert seqs(box.take(10)) == [1]


def test_a_second_process_cannot_open_the_same_outbox(box: Outbox, path: Path) -> None:
    with pytest.raises(OutboxLocked):
        Outbox(path)


def test_backlog_payloads_are_marked_historical_and_live_ones_are_not() -> None:
    row = Row(1, Kind.READING, TOPIC, b'{"seq":1,"values":{"cod":35.2}}', False, 42, 0.0)
    assert wire_payload(row, epoch=42) == row.payload
    marked = json.loads(wire_payload(row, epoch=43))
    assert marked == {"seq": 1, "values": {"cod": 35.2}, "historical": True}
    offline = Row(2, Kind.DETECTION, TOPIC, b'{"seq":2}', False, 0, 0.0)
    assert json.loads(wire_payload(offline, epoch=42))["historical"] is True
    state = Row(3, Kind.STATUS, TOPIC, b'{"state":"online"}', True, 0, 0.0)
    assert wire_payload(state, epoch=42) == state.payload, "NodeStatus has no historical field"
    assert mark_historical(b"\xff\xd8jpeg") == b"\xff\xd8jpeg"


_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from envgrid_common.outbox import Kind, Outbox, OutMessage

    box = Outbox(Path(sys.argv[1]))
    seq = 0
    while True:
        seq += 1
        box.put([OutMessage(Kind.READING, "t/r", b'{"seq":%d}' % seq)], counters={"seq": seq + 1})
        print(seq, flush=True)
    """
)


def test_kill_9_loses_nothing_that_was_committed(path: Path) -> None:
    writer = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert writer.stdout is not None
    confirmed = [int(writer.stdout.readline()) for _ in range(300)]
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait(10)
    with Outbox(path) as box:
        stored = seqs(box.take(100_000))
        assert stored == list(range(1, len(stored) + 1)), "in order, without holes"
        assert set(confirmed) <= set(stored)
        assert box.counter("seq") == len(stored) + 1, "the counter moved with the rows"
