"""Typed observations: decoded once, judged as they are, refused as they came."""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import orjson
import psycopg
import pytest

from envgrid_cloud.cases.model import Severity
from envgrid_cloud.ingest.batch import Batch, Batcher
from envgrid_cloud.ingest.decode import Decoder
from envgrid_cloud.ingest.nodes import NodeCache
from envgrid_cloud.ingest.rows import detection_row, staged
from envgrid_cloud.ingest.store import Written
from envgrid_cloud.ingest.writer import Writer
from envgrid_cloud.observations import (
    DeadLetterRecord,
    DetectionRecord,
    Fresh,
    ReadingRecord,
    SnapshotRecord,
    StatusRecord,
)
from envgrid_cloud.rules.evaluate import evaluate
from envgrid_cloud.rules.model import ThresholdRule
from envgrid_common.clock import CoarseClock, ManualClock
from envgrid_common.topics import Topics

NOW = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
TOPICS = Topics("unit/envgrid")
COD = ThresholdRule(
    id="cod", severity=Severity.HIGH, title="化学需氧量超标", metric="cod", above=20
)
# Odd spacing, key order and escapes: anything rebuilt from the parsed values would differ.
READING = (
    b'{ "values": {"cod": 35.20, "nh3n": 1},  "seq": 7,\n'
    b' "ts": "2026-05-01T15:59:00+08:00", "flags": {"nh3n": "\\u0054"}, "historical": true }'
)
DETECTION = (
    b'{"seq": 3, "ts": "2026-05-01T15:58:00+08:00", "event_id": "e1", "kind": "smoke",'
    b' "phase": "new", "confidence": 0.875, "bbox": [1, 2, 30, 40]}'
)
# A JPEG as far as the contract looks (its magic number); nothing here decodes it.
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4
CLOUD = Path(__file__).resolve().parents[2] / "cloud" / "envgrid_cloud"


class FixedClock(CoarseClock):
    """Always ``NOW``."""

    def __init__(self) -> None:
        super().__init__(wall=ManualClock(NOW))


def decoding(
    messages: Sequence[tuple[str, bytes]], known: tuple[str, ...]
) -> tuple[Batcher, NodeCache]:
    """A batcher holding ``messages`` as the decoder batched them, and its node cache."""
    batcher = Batcher(max_size=1000, interval_s=0.0)
    nodes = NodeCache(lambda: known)
    nodes.refresh_if_stale()
    decoder = Decoder(TOPICS, batcher, nodes, FixedClock())
    for mid, (topic, payload) in enumerate(messages, 1):
        decoder.handle(topic, payload, mid)
    batcher.close()
    return batcher, nodes


def decoded(*messages: tuple[str, bytes], known: tuple[str, ...] = ("n1", "cam1")) -> Batch:
    batch = decoding(messages, known)[0].take()
    assert batch is not None
    return batch


def test_a_decoded_reading_is_a_frozen_typed_record_with_its_message() -> None:
    [record] = decoded((TOPICS.readings("n1"), READING)).readings
    assert record == ReadingRecord(
        "n1",
        datetime(2026, 5, 1, 7, 59, tzinfo=UTC),
        7,
        {"cod": 35.2, "nh3n": 1.0},
        {"nh3n": "T"},
        True,
        TOPICS.readings("n1"),
        READING,
    )
    assert all(type(v) is float for v in record.values.values())
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.seq = 8  # type: ignore[misc]
    assert not hasattr(record, "__dict__")  # slotted


def test_the_rules_judge_the_decoded_record_itself_no_json_between() -> None:
    [record] = decoded((TOPICS.readings("n1"), READING)).readings
    fresh = Fresh(readings=[record])
    assert fresh.readings[0] is record
    step = evaluate(COD, None, fresh.readings[0])
    assert step.finding is not None
    assert (step.finding.kind, step.finding.metric, step.finding.value) == ("breach", "cod", 35.2)
    # The flag travels typed too: T (above range) is not a measurement, so nh3n is skipped.
    nh3n = COD.model_copy(update={"id": "nh3n", "metric": "nh3n", "above": 0.5})
    assert evaluate(nh3n, None, record).finding is None


def test_detections_and_statuses_are_records_too() -> None:
    batch = decoded(
        (TOPICS.detections("cam1"), DETECTION),
        (TOPICS.status("n1"), b'{"state": "offline"}'),
    )
    [detection] = batch.detections
    assert isinstance(detection, DetectionRecord)
    assert (detection.event_id, detection.kind, detection.phase) == ("e1", "smoke", "new")
    assert (detection.confidence, detection.bbox) == (0.875, (1, 2, 30, 40))
    assert (detection.topic, detection.payload) == (TOPICS.detections("cam1"), DETECTION)
    [status] = batch.statuses
    assert status == StatusRecord(
        "n1", status.state, NOW, TOPICS.status("n1"), b'{"state": "offline"}'
    )
    assert status.state == "offline"


def test_snapshots_are_records_and_bad_ones_dead_letters() -> None:
    too_big = b"\xff\xd8" + bytes(3000)
    batcher = Batcher(max_size=1000, interval_s=0.0)
    nodes = NodeCache(lambda: ("cam1",))
    nodes.refresh_if_stale()
    decoder = Decoder(TOPICS, batcher, nodes, FixedClock(), snapshot_max_bytes=2048)
    messages = [
        (TOPICS.snapshot("cam1", "e1"), JPEG),
        (TOPICS.snapshot("cam1", "e2"), b"GIF89a"),
        (TOPICS.snapshot("cam1", "e3"), too_big),
        (TOPICS.snapshot("cam9", "e4"), JPEG),
    ]
    for mid, (topic, payload) in enumerate(messages, 1):
        decoder.handle(topic, payload, mid)
    batcher.close()
    batch = batcher.take()
    assert batch is not None
    assert batch.snapshots == [
        SnapshotRecord("cam1", "e1", NOW, TOPICS.snapshot("cam1", "e1"), JPEG)
    ]
    assert [(d.topic, d.reason) for d in batch.dead_letters] == [
        (TOPICS.snapshot("cam1", "e2"), "snapshot is not a JPEG"),
        (
            TOPICS.snapshot("cam1", "e3"),
            "snapshot of 3002 bytes exceeds ENVGRID_SNAPSHOT_MAX_BYTES (2048)",
        ),
    ]
    assert batch.dead_letters[1].original() == too_big
    [unknown] = batch.unresolved
    assert isinstance(unknown, SnapshotRecord)
    assert batch.snapshot_bytes == 2 * len(JPEG)
    assert batcher.held_bytes == 2 * len(JPEG)


def test_json_is_made_only_at_the_edge_of_the_store() -> None:
    [record] = decoded((TOPICS.readings("n1"), READING)).readings
    node_id, ts, seq, vals, flags, historical = staged(record)
    assert (node_id, ts, seq, historical) == ("n1", record.ts, 7, True)
    assert isinstance(vals, bytes)
    assert isinstance(flags, bytes)
    assert orjson.loads(vals) == {"cod": 35.2, "nh3n": 1.0}
    assert orjson.loads(flags) == {"nh3n": "T"}
    plain = dataclasses.replace(record, flags={})
    assert staged(plain)[4] is None  # no flags: SQL NULL, as before
    [detection] = decoded((TOPICS.detections("cam1"), DETECTION)).detections
    row = detection_row(detection)
    assert row[4:7] == ("smoke", "new", 0.875)
    body = row[7]
    assert isinstance(body, bytes)
    assert orjson.loads(body)["bbox"] == [1, 2, 30, 40]


class RefusingStore:
    """Refuses every node record, as a database refuses a poison row; keeps dead letters."""

    def __init__(self) -> None:
        self.dead_letters: list[DeadLetterRecord] = []

    def write(
        self,
        readings: Sequence[ReadingRecord],
        statuses: Sequence[StatusRecord],
        dead_letters: Sequence[DeadLetterRecord],
        detections: Sequence[DetectionRecord] = (),
        snapshots: Sequence[SnapshotRecord] = (),
    ) -> Written:
        if readings or statuses or detections or snapshots:
            raise psycopg.DataError("invalid input syntax")
        self.dead_letters.extend(dead_letters)
        return Written(dead_lettered=len(dead_letters))

    def close(self) -> None:
        pass


def written(
    messages: Sequence[tuple[str, bytes]], known: tuple[str, ...] = ("n1", "cam1")
) -> RefusingStore:
    """What the writer made of ``messages`` against a database refusing every node record."""
    store = RefusingStore()
    batcher, nodes = decoding(messages, known)
    Writer(batcher, store, nodes, lambda _: None).run()
    return store


def test_a_refused_record_dead_letters_its_original_message_byte_for_byte() -> None:
    messages = [
        (TOPICS.readings("n1"), READING),
        (TOPICS.detections("cam1"), DETECTION),
        (TOPICS.status("n1"), b' {"state":"online"} '),
        (TOPICS.snapshot("cam1", "e1"), JPEG),
    ]
    store = written(messages)
    assert sorted((d.topic, d.original()) for d in store.dead_letters) == sorted(messages)
    assert all(d.reason.startswith("the database refused it: ") for d in store.dead_letters)


def test_a_record_of_an_unknown_node_dead_letters_its_original_message() -> None:
    batch = decoded((TOPICS.readings("n9"), READING), known=())
    [record] = batch.unresolved
    assert isinstance(record, ReadingRecord)
    store = written([(TOPICS.readings("n9"), READING)], known=())
    [letter] = store.dead_letters
    assert (letter.topic, letter.original(), letter.reason) == (
        TOPICS.readings("n9"),
        READING,
        "unknown node 'n9'",
    )


def test_a_snapshot_of_an_unknown_node_is_a_dead_letter_as_it_came() -> None:
    topic = TOPICS.snapshot("cam9", "e1")
    [letter] = written([(topic, JPEG)], known=()).dead_letters
    assert (letter.topic, letter.original(), letter.reason) == (topic, JPEG, "unknown node 'cam9'")


def test_non_utf8_or_nul_payloads_come_back_exactly() -> None:
    for payload in (b"\xff\xfe{", b'{"a": "x\x00y"}'):
        [letter] = decoded((TOPICS.readings("n1"), payload)).dead_letters
        assert letter.encoding == "base64"
        assert letter.original() == payload


def _imports(part: str) -> set[str]:
    """The parts of envgrid_cloud (subpackages, top-level modules) that ``part`` imports."""
    package = CLOUD / part
    paths = package.rglob("*.py") if package.is_dir() else [CLOUD / f"{part}.py"]
    found: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            found.update(n.split(".")[1] for n in names if n.startswith("envgrid_cloud."))
    return found - {part}


def _reaches(part: str) -> set[str]:
    """Every part of envgrid_cloud that importing ``part`` loads, directly or not."""
    seen: set[str] = set()
    todo = [part]
    while todo:
        for found in _imports(todo.pop()) - seen:
            seen.add(found)
            todo.append(found)
    return seen - {part}


@pytest.mark.parametrize(
    ("part", "never"),
    [
        ("ingest", {"rules", "cases", "api"}),
        ("rules", {"ingest", "api"}),
        ("cases", {"ingest", "rules", "api"}),
        ("observations", {"ingest", "rules", "cases", "api"}),
    ],
)
def test_ingest_rules_and_cases_meet_only_in_the_observations(part: str, never: set[str]) -> None:
    assert _reaches(part) & never == set()
