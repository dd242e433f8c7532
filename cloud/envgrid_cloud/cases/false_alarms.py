"""The frames of false alarms: snapshots of cases dismissed as 误报, exported for re-evaluation.

The export is a folder ``envgrid edge camera eval`` reads: ``labels.csv`` (``file,label`` and
more columns about where each frame came from) and the JPEGs under ``negative/``. Every frame
is labelled ``negative``: an officer looked at the case and said there was no fire.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from envgrid_cloud.cases.sql import load

LABEL = "negative"
FOLDER = "negative"  # the frames' folder inside the export, as in the labelled data sets
COLUMNS = (
    "file",
    "label",
    "case_id",
    "township_id",
    "node_id",
    "event_id",
    "kind",
    "dismissed_at",
    "reason",
    "received_at",
)


@dataclass(frozen=True, slots=True)
class FalseAlarm:
    """One frame of a dismissed case."""

    case_id: int
    township_id: str
    node_id: str
    event_id: str
    kind: str | None
    dismissed_at: datetime
    reason: str | None
    received_at: datetime
    size: int

    @property
    def file(self) -> str:
        """Its path inside the export (ids hold only letters, digits, _ . -: safe names)."""
        return f"{FOLDER}/{self.case_id}_{self.node_id}_{self.event_id}.jpg"

    def row(self) -> dict[str, object]:
        """Its line of labels.csv."""
        return {
            "file": self.file,
            "label": LABEL,
            "case_id": self.case_id,
            "township_id": self.township_id,
            "node_id": self.node_id,
            "event_id": self.event_id,
            "kind": self.kind or "",
            "dismissed_at": self.dismissed_at.isoformat(),
            "reason": self.reason or "",
            "received_at": self.received_at.isoformat(),
        }


def false_alarms(
    conn: psycopg.Connection[Any], since: datetime | None = None, township_id: str | None = None
) -> list[FalseAlarm]:
    """The frames to export, one per snapshot (the first case that shows it), oldest first."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            load("false_alarm_snapshots"), {"since": since, "township_id": township_id}
        ).fetchall()
    seen: set[tuple[str, str]] = set()
    found = []
    for r in rows:
        key = (r["node_id"], r["event_id"])
        if key not in seen:
            seen.add(key)
            found.append(FalseAlarm(**r))
    return found


def frames(
    conn: psycopg.Connection[Any], alarms: list[FalseAlarm]
) -> Iterator[tuple[FalseAlarm, bytes]]:
    """Each frame with its JPEG, read one at a time (an export may be gigabytes)."""
    for alarm in alarms:
        row = conn.execute(
            load("snapshot_jpeg"), {"node_id": alarm.node_id, "event_id": alarm.event_id}
        ).fetchone()
        if row is not None:  # deleted since the list was read: left out
            yield alarm, bytes(row[0])


def labels_csv(alarms: list[FalseAlarm]) -> str:
    """labels.csv of ``alarms``."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(a.row() for a in alarms)
    return out.getvalue()


@dataclass(frozen=True, slots=True)
class Exported:
    """What an export wrote."""

    frames: int
    cases: int
    bytes: int


def export_to_folder(
    conn: psycopg.Connection[Any],
    folder: Path,
    since: datetime | None = None,
    township_id: str | None = None,
    progress: Callable[[int, int], object] = lambda done, total: None,
) -> Exported:
    """Write the frames and labels.csv into ``folder`` (made if missing); ``progress(done,
    total)`` after each frame. labels.csv is written last, listing only frames written."""
    alarms = false_alarms(conn, since, township_id)
    (folder / FOLDER).mkdir(parents=True, exist_ok=True)
    written: list[FalseAlarm] = []
    size = 0
    for alarm, jpeg in frames(conn, alarms):
        (folder / alarm.file).write_bytes(jpeg)
        written.append(alarm)
        size += len(jpeg)
        progress(len(written), len(alarms))
    # Through a temporary name: a reader never sees half a labels.csv.
    partial = folder / "labels.csv.partial"
    partial.write_text(labels_csv(written), encoding="utf-8")
    partial.replace(folder / "labels.csv")
    return Exported(len(written), len({a.case_id for a in written}), size)
