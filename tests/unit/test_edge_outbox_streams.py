"""Streams in one outbox: independent order, statuses and backlog; release; shared bounds."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from envgrid_common.outbox import Bounds, Kind, Outbox, OutMessage, Row


def reading(node: str, seq: int) -> OutMessage:
    body = json.dumps({"seq": seq}).encode()
    return OutMessage(Kind.READING, f"envgrid/v1/nodes/{node}/readings", body)


def status(node: str, state: str) -> OutMessage:
    body = json.dumps({"state": state}).encode()
    return OutMessage(Kind.STATUS, f"envgrid/v1/nodes/{node}/status", body, retain=True, key=node)


def seqs(rows: list[Row]) -> list[int]:
    return [json.loads(r.payload).get("seq", -1) for r in rows]


def states(rows: list[Row]) -> list[str]:
    return [json.loads(r.payload).get("state", "reading") for r in rows]


@pytest.fixture
def box(tmp_path: Path) -> Outbox:
    return Outbox(tmp_path / "outbox.sqlite", durability="normal")


def test_each_stream_is_its_own_fifo(box: Outbox) -> None:
    for seq in range(1, 4):
        box.put([reading("a", seq)], stream="a")
        box.put([reading("b", seq * 10)], stream="b")
    first = box.take(2, stream="a")
    assert seqs(first) == [1, 2]
    assert all(r.stream == "a" for r in first)
    assert seqs(box.take(10, stream="b")) == [10, 20, 30]
    assert seqs(box.take(10, stream="a")) == [3]
    assert box.take(10) == [], "the default stream is a stream of its own"
    assert box.take(10, stream="a") == []


def test_backlog_and_pending_are_per_stream(box: Outbox) -> None:
    box.put([reading("a", 1)], stream="a")
    assert box.pending("a")
    assert not box.pending("b")
    assert box.backlog
    box.take(1, stream="a")
    assert not box.pending("a")
    assert not box.backlog


def test_statuses_are_superseded_per_stream_and_go_first_in_their_stream(box: Outbox) -> None:
    box.put([reading("a", 1)], stream="a")
    box.put([status("a", "online")], stream="a")
    box.put([status("a", "offline")], stream="a")  # replaces a's pending online
    box.put([status("b", "online")], stream="b")
    assert len(box) == 3
    assert states(box.take(10, stream="a")) == ["offline", "reading"]
    assert states(box.take(10, stream="b")) == ["online"]


def test_release_gives_unacknowledged_rows_back_in_order(box: Outbox) -> None:
    for seq in range(1, 6):
        box.put([reading("a", seq)], stream="a")
    box.put([reading("b", 1)], stream="b")
    taken = box.take(3, stream="a")
    (b_row,) = box.take(1, stream="b")
    box.ack([taken[0].id])  # seq 1 acknowledged, 2 and 3 in flight when the link dropped
    assert box.release("a") == 2
    assert box.pending("a")
    assert seqs(box.take(10, stream="a")) == [2, 3, 4, 5]
    assert box.release("c") == 0
    box.ack([b_row.id])  # b was not released: its acknowledgement still counts
    assert len(box) == 4


def test_a_released_status_yields_to_a_newer_one(box: Outbox) -> None:
    box.put([status("a", "online")], stream="a")
    box.take(1, stream="a")
    box.put([status("a", "offline")], stream="a")
    box.release("a")
    assert states(box.take(10, stream="a")) == ["offline"]
    assert len(box) == 1
    assert box.stats().superseded == 1
    box.put([status("b", "online")], stream="b")
    box.take(1, stream="b")
    box.release("b")
    assert states(box.take(10, stream="b")) == ["online"], "nothing newer: it goes again"


def test_bounds_drop_the_oldest_readings_of_any_stream_but_not_those_in_flight(
    tmp_path: Path,
) -> None:
    with Outbox(tmp_path / "o.sqlite", Bounds(max_rows=4), durability="normal") as box:
        box.put([reading("a", 1)], stream="a")
        in_flight = box.take(1, stream="a")
        box.put([reading("b", 1)], stream="b")
        box.put([reading("a", 2)], stream="a")
        box.put([reading("b", 2)], stream="b")
        box.put([reading("a", 3)], stream="a")  # 5 rows: the oldest not in flight (b1) goes
        assert len(box) == 4
        assert box.stats().dropped_full == 1
        assert seqs(box.take(10, stream="b")) == [2]
        assert seqs(box.take(10, stream="a")) == [2, 3]
        box.ack([in_flight[0].id])


def test_streams_and_counters_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite"
    with Outbox(path, durability="normal") as box:
        box.put([reading("a", 1)], stream="a", counters={"seq/a": 2})
        box.put([status("a", "online")], stream="a")
        box.put([reading("b", 1)], stream="b", counters={"seq/b": 2})
        box.take(10, stream="a")  # in flight when the process ended: taken again
    with Outbox(path, durability="normal") as box:
        assert box.counter("seq/a") == 2
        assert states(box.take(10, stream="a")) == ["online", "reading"]
        assert seqs(box.take(10, stream="b")) == [1]


def test_a_version_1_outbox_is_migrated_with_its_backlog(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL,
            topic TEXT NOT NULL, payload BLOB NOT NULL, retain INTEGER NOT NULL, key TEXT,
            live INTEGER NOT NULL, created REAL NOT NULL, size INTEGER NOT NULL);
        CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
        INSERT INTO messages (kind, topic, payload, retain, key, live, created, size)
            VALUES ('reading', 't', '{"seq": 7}', 0, NULL, 0, 0, 10);
        PRAGMA user_version=1;
        """
    )
    db.close()
    with Outbox(path) as box:
        (row,) = box.take(10)
        assert (seqs([row]), row.stream) == ([7], "")
