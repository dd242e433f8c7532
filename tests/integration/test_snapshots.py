"""Camera snapshots on real PostgreSQL: linked to their cases, served by scope, kept or expired,
exported for the detector's re-evaluation."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import psycopg
import pytest

from envgrid_cli.main import main
from envgrid_cloud.cases.model import Action
from envgrid_cloud.cases.snapshot_retention import SnapshotRetention
from envgrid_cloud.ingest.store import BatchStore
from envgrid_cloud.observations import DetectionRecord, SnapshotRecord
from envgrid_cloud.rules.engine import RuleEngine
from envgrid_common.messages import DetectionKind, DetectionPhase
from envgrid_common.topics import Topics
from tests.integration.test_api_support import api, token_for
from tests.integration.test_cases_support import move, seed_farmland_camera, seed_grid

NOW = datetime.now(UTC).replace(microsecond=0)
T0 = NOW - timedelta(days=1)  # the incidents' source times
OLD = NOW - timedelta(days=200)  # past the default retention (90 days)
TOPICS = Topics()


def jpeg(seed: int, size: tuple[int, int] = (64, 48)) -> bytes:
    """A small real JPEG, different for each seed."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    ok, encoded = cv2.imencode(".jpg", image)
    assert ok
    return encoded.tobytes()


def detection(event_id: str, seq: int, at: datetime, confidence: float = 0.9) -> DetectionRecord:
    """A ``new`` smoke message of ``event_id`` from the field's camera."""
    return DetectionRecord(
        "field1-cam", at, seq, event_id, DetectionKind.SMOKE, DetectionPhase.NEW, confidence
    )


def snapshot(event_id: str, data: bytes, received_at: datetime = NOW) -> SnapshotRecord:
    """The field camera's snapshot of ``event_id``, as the decoder makes it."""
    return SnapshotRecord(
        "field1-cam", event_id, received_at, TOPICS.snapshot("field1-cam", event_id), data
    )


@pytest.fixture
def db(migrated_url: str) -> str:
    """The case tests' grid and a camera on farmland in 东村 (luxi-v1)."""
    seed_grid(migrated_url)
    seed_farmland_camera(migrated_url)
    return migrated_url


@pytest.fixture
def store(db: str) -> Iterator[BatchStore]:
    """A batch store judging with the rules, as an ingest worker's."""
    s = BatchStore(db, judge=RuleEngine())
    yield s
    s.close()


def case_of(db: str, event_id: str) -> int:
    """The case whose detail names ``event_id``."""
    with psycopg.connect(db) as conn:
        row = conn.execute(
            "SELECT id FROM cases WHERE detail ->> 'event_id' = %s", (event_id,)
        ).fetchone()
    assert row is not None, f"no case for {event_id}"
    return int(row[0])


def stored_events(db: str) -> list[str]:
    """Event ids of the stored snapshots."""
    with psycopg.connect(db) as conn:
        return [r[0] for r in conn.execute("SELECT event_id FROM snapshots ORDER BY event_id")]


@pytest.fixture
def incidents(db: str, store: BatchStore) -> dict[str, int]:
    """A false alarm (ev-a, dismissed), an open case (ev-b), an incident never confident enough
    for a case (ev-x): each with an old snapshot; and a fresh snapshot of no case (ev-y)."""
    # The snapshot of ev-a comes before its detection: they are linked when read.
    store.write([], [], [], [], [snapshot("ev-a", jpeg(1), OLD)])
    store.write([], [], [], [detection("ev-a", 1, T0)])
    dismissed = case_of(db, "ev-a")
    move(db, dismissed, Action.DISMISS, "luxi-reviewer", NOW, reason="夕阳映红云层，非烟火")
    written = store.write(
        [],
        [],
        [],
        [detection("ev-b", 2, T0 + timedelta(hours=1)), detection("ev-x", 3, T0, 0.3)],
        [
            snapshot("ev-b", jpeg(2), OLD),
            snapshot("ev-x", jpeg(3), OLD),
            snapshot("ev-y", jpeg(4)),
        ],
    )
    assert written.snapshots == 3
    return {"dismissed": dismissed, "open": case_of(db, "ev-b")}


def test_a_redelivered_snapshot_is_stored_once_and_a_better_one_replaces_it(
    db: str, store: BatchStore
) -> None:
    first, better = jpeg(10), jpeg(11, (96, 72))
    assert store.write([], [], [], [], [snapshot("e1", first)]).snapshots == 1
    assert store.write([], [], [], [], [snapshot("e1", first)]).snapshots == 0
    assert store.write([], [], [], [], [snapshot("e1", better)]).snapshots == 1
    # A late redelivered copy of the first must not replace the better one.
    assert store.write([], [], [], [], [snapshot("e1", first)]).snapshots == 0
    with psycopg.connect(db) as conn:
        row = conn.execute("SELECT jpeg, size, versions FROM snapshots").fetchall()
    assert row == [(better, len(better), 2)]


@pytest.mark.asyncio
async def test_the_case_file_lists_its_snapshots_and_serves_them_by_scope(
    db: str, incidents: dict[str, int]
) -> None:
    case_id = incidents["open"]
    url = f"/api/v1/cases/{case_id}/snapshots/field1-cam/ev-b"
    async with api(db, token_for(db, "v1-officer")) as client:
        file = (await client.get(f"/api/v1/cases/{case_id}")).json()
        listed = (await client.get(f"/api/v1/cases/{case_id}/snapshots")).json()
        image = await client.get(url)
        again = await client.get(url, headers={"If-None-Match": image.headers["etag"]})
        other_case = await client.get(f"/api/v1/cases/{case_id}/snapshots/field1-cam/ev-a")
        own_of_dismissed = await client.get(
            f"/api/v1/cases/{incidents['dismissed']}/snapshots/field1-cam/ev-a"
        )
    assert [s["event_id"] for s in file["snapshots"]] == ["ev-b"]
    assert file["snapshots"][0]["url"] == url
    assert file["snapshots"][0]["size"] == len(jpeg(2))
    assert file["snapshots"][0]["received_at"].endswith("+08:00")
    assert listed == file["snapshots"]
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/jpeg"
    assert image.content == jpeg(2)
    assert again.status_code == 304
    assert other_case.status_code == 404  # ev-a is not this case's
    assert own_of_dismissed.status_code == 200
    async with api(db, token_for(db, "xd-officer")) as client:  # 小店镇: not their area
        outside = [
            (await client.get(path)).status_code
            for path in (url, f"/api/v1/cases/{case_id}/snapshots", f"/api/v1/cases/{case_id}")
        ]
    assert outside == [404, 404, 404]
    async with api(db, None) as client:
        assert (await client.get(url)).status_code == 401


def test_retention_deletes_old_snapshots_but_keeps_evidence_still_needed(
    db: str, incidents: dict[str, int]
) -> None:
    keep_false_alarms = SnapshotRetention(timedelta(days=90))
    with psycopg.connect(db) as conn:
        assert keep_false_alarms(conn, NOW) == 1
    # ev-x (old, no case) went; the false alarm, the open case's and the fresh one stay.
    assert stored_events(db) == ["ev-a", "ev-b", "ev-y"]
    with psycopg.connect(db) as conn:
        conn.execute("UPDATE cases SET state = 'closed' WHERE id = %s", (incidents["open"],))
        conn.commit()
        assert keep_false_alarms(conn, NOW) == 1
        assert stored_events(db) == ["ev-a", "ev-y"]
        assert keep_false_alarms(conn, NOW + timedelta(days=3650)) == 1  # ev-y, in ten years
        assert stored_events(db) == ["ev-a"]
        # False alarms' own retention, when one is set.
        assert SnapshotRetention(timedelta(days=90), timedelta(days=365))(conn, NOW) == 0
        bounded = SnapshotRetention(timedelta(days=90), timedelta(days=100))
        assert bounded(conn, NOW) == 1
    assert stored_events(db) == []


def test_export_writes_labels_and_frames_of_false_alarms(
    db: str,
    incidents: dict[str, int],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("ENVGRID_DATABASE_URL", db)
    out = tmp_path / "false-alarms"
    assert main(["cases", "export-false-alarms", str(out)]) == 0
    printed = capsys.readouterr()
    with (out / "labels.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [(r["label"], r["case_id"], r["event_id"], r["kind"]) for r in rows] == [
        ("negative", str(incidents["dismissed"]), "ev-a", "smoke")
    ]
    assert rows[0]["reason"] == "夕阳映红云层，非烟火"
    assert rows[0]["township_id"] == "luxi"
    assert datetime.fromisoformat(rows[0]["dismissed_at"]) == NOW
    assert (out / rows[0]["file"]).read_bytes() == jpeg(1)
    assert sorted(p.name for p in (out / "negative").iterdir()) == [Path(rows[0]["file"]).name]
    assert "exported 1 snapshot(s) of 1 dismissed case(s)" in printed.out
    assert "1/1 snapshots" in printed.err

    for args in (
        ["--township", "xiaodian"],
        ["--since", (NOW + timedelta(days=2)).date().isoformat()],
    ):
        other = tmp_path / args[0].strip("-")
        assert main(["cases", "export-false-alarms", str(other), *args]) == 0
        assert (other / "labels.csv").read_text(encoding="utf-8").splitlines() == [
            "file,label,case_id,township_id,node_id,event_id,kind,dismissed_at,reason,received_at"
        ]
    since = tmp_path / "since"
    day = (NOW - timedelta(days=1)).date().isoformat()
    assert main(["cases", "export-false-alarms", str(since), "--since", day]) == 0
    assert len((since / "labels.csv").read_text(encoding="utf-8").splitlines()) == 2


@pytest.mark.asyncio
async def test_an_administrator_downloads_the_false_alarms_as_a_zip(
    db: str, incidents: dict[str, int]
) -> None:
    path = "/api/v1/snapshots/false-alarms"
    async with api(db) as client:
        everything = await client.get(path)
        none_there = await client.get(path, params={"township_id": "xiaodian"})
        bad_since = await client.get(path, params={"since": "yesterday"})
    async with api(db, token_for(db, "luxi-reviewer")) as client:
        reviewer = await client.get(path)
    assert everything.status_code == 200
    assert everything.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(everything.content)) as archive:
        labels = list(csv.DictReader(io.StringIO(archive.read("labels.csv").decode())))
        assert [(r["label"], r["event_id"]) for r in labels] == [("negative", "ev-a")]
        assert archive.read(labels[0]["file"]) == jpeg(1)
    with zipfile.ZipFile(io.BytesIO(none_there.content)) as archive:
        assert archive.namelist() == ["labels.csv"]
    assert bad_since.status_code == 422
    assert reviewer.status_code == 403
