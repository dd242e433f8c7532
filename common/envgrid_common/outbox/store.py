"""The outbox's disk queue: SQLite in WAL mode, first in first out, bounded by rows, bytes, age.

Durability: every :meth:`Outbox.put` is one transaction. With ``durability="full"`` (the
default, ``synchronous=FULL``) a committed message is on the disk before ``put`` returns, so it
survives a power cut, the common fault of a field node; a node reports every few seconds at
most, so one fsync per reading costs nothing that matters. ``"normal"`` (``synchronous=NORMAL``)
still survives a killed process (the WAL is in the OS page cache), but a power cut may lose
the last commits; it suits many virtual nodes on one server. Deletions after PUBACK always use
NORMAL: losing one to a power cut only sends that message again, and receivers are idempotent.

Streams: one outbox can hold several independent queues (a simulated township keeps one per
node in one file instead of one file per node). A stream is named by a string; ``""`` is the
default, and an outbox used without naming streams behaves as a single queue. Order, status
superseding, hand-over and the backlog flag are per stream; bounds and counters are shared.

Overflow policy, applied inside the enqueue transaction: while the queue holds more rows or
bytes than its bounds, the oldest readings (of any stream) not yet handed over are dropped.
Detections and statuses are never dropped: if only they remain, the queue grows past its
bounds and a warning says so. Readings older than ``max_age_s`` are dropped as well. Every
drop is counted (persistently) and logged.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from envgrid_common.outbox.message import Kind, OutMessage, Row

log = logging.getLogger("envgrid.outbox")

Durability = Literal["full", "normal"]
SCHEMA_VERSION = 2  # 2 added the stream column
_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: the hand-over cursor relies on it
    kind    TEXT    NOT NULL,
    topic   TEXT    NOT NULL,
    payload BLOB    NOT NULL,
    retain  INTEGER NOT NULL,
    key     TEXT,
    live    INTEGER NOT NULL,  -- connection it was produced live on; 0 = produced into a backlog
    created REAL    NOT NULL,  -- enqueue time, seconds since the epoch
    size    INTEGER NOT NULL,
    stream  TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS messages_kind ON messages (kind, id);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
"""
_MIGRATE_1 = "ALTER TABLE messages ADD COLUMN stream TEXT NOT NULL DEFAULT ''"
_STREAM_INDEX = "CREATE INDEX IF NOT EXISTS messages_stream ON messages (stream, id)"
_COLUMNS = "id, kind, topic, payload, retain, live, created, stream"
# Counters the outbox keeps about itself, next to those its users keep (sequence numbers).
DROPPED_FULL = "outbox.dropped_full"
DROPPED_EXPIRED = "outbox.dropped_expired"
REFUSED = "outbox.refused"
SUPERSEDED = "outbox.superseded"
_WARN_EVERY_S = 60.0
_VACUUM_EVERY_S = 60.0
_CHUNK = 512


class OutboxLocked(RuntimeError):
    """Another process has this outbox open."""


@dataclass(frozen=True, slots=True)
class Bounds:
    """How much an outbox may hold before readings are dropped."""

    max_rows: int = 500_000
    max_bytes: int = 100 * 1024 * 1024
    max_age_s: float = 30 * 86400.0

    def __post_init__(self) -> None:
        if self.max_rows < 1 or self.max_bytes < 1 or self.max_age_s <= 0:
            raise ValueError("outbox bounds must be positive")


@dataclass(frozen=True, slots=True)
class OutboxStats:
    """What an outbox holds and what it had to give up."""

    rows: int
    bytes: int
    in_flight: int
    oldest_age_s: float | None
    dropped_full: int
    dropped_expired: int
    refused: int
    superseded: int
    over_bound: bool

    @property
    def dropped(self) -> int:
        """Readings dropped by the size and age bounds together."""
        return self.dropped_full + self.dropped_expired


# What a failed transaction must put back: rows, bytes, tails, pending statuses, counters.
_State = tuple[int, int, dict[str, int], dict[str, dict[str, int]], dict[str, int]]


# Kind(value) costs half a microsecond a row (the enum's lookup machinery); a dict does not.
_KIND_OF = {kind.value: kind for kind in Kind}


def _row(record: tuple[int, str, str, bytes, int, int, float, str]) -> Row:
    id_, kind, topic, payload, retain, live, created, stream = record
    return Row(id_, _KIND_OF[kind], topic, payload, bool(retain), live, created, stream)


class Outbox:
    """A FIFO of messages on disk; rows leave it only when acknowledged (or dropped by policy).

    Thread-safe. A row is *handed over* by :meth:`take` (to a broker client) and deleted by
    :meth:`ack`; what was handed over but not acknowledged when the process ends is taken
    again after a restart, or at once after :meth:`release`. Statuses are taken before
    everything else of their stream, and a newer status replaces a pending one with the same
    stream and key.
    """

    def __init__(
        self,
        path: Path,
        bounds: Bounds | None = None,
        *,
        durability: Durability = "full",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.bounds = bounds or Bounds()
        self._durable = "FULL" if durability == "full" else "NORMAL"
        self._clock = clock
        self._lock = threading.Lock()
        self._sync: str | None = None
        self._db = self._open(path)
        self._handed: dict[int, str] = {}  # handed over and not yet acknowledged → stream
        self._cursors: dict[str, int] = {}  # per stream: highest non-status id handed over
        self._over_bound = False
        self._closed = False
        self._last_warning = -_WARN_EVERY_S
        self._last_vacuum = -_VACUUM_EVERY_S
        try:
            self._load()
        except BaseException:
            self._db.close()
            raise

    # -- opening -------------------------------------------------------------------------------

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=0.2)
        try:
            # Exclusive locking: a second agent on the same file fails at once, and WAL needs
            # no shared-memory file (one file fewer on the node's flash).
            db.execute("PRAGMA locking_mode=EXCLUSIVE")
            db.execute("PRAGMA auto_vacuum=INCREMENTAL")  # effective only on a new file
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA journal_size_limit=4194304")
            db.execute("BEGIN IMMEDIATE")  # take the lock now, not at the first write
            db.executescript(_SCHEMA)  # commits
            (version,) = db.execute("PRAGMA user_version").fetchone()
            if version not in (0, 1, SCHEMA_VERSION):
                raise RuntimeError(f"{path}: outbox schema {version}, expected {SCHEMA_VERSION}")
            db.execute("BEGIN IMMEDIATE")
            if version == 1:
                db.execute(_MIGRATE_1)  # a backlog left by the previous version is kept
            db.execute(_STREAM_INDEX)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            db.execute("COMMIT")
        except sqlite3.OperationalError as error:
            db.close()
            if "locked" in str(error):
                raise OutboxLocked(f"{path} is in use by another process") from None
            raise
        except BaseException:
            db.close()
            raise
        return db

    def _load(self) -> None:
        db = self._db
        self._begin(self._durable)
        # Only the newest status per key matters; older ones were left by a crash.
        db.execute(
            "DELETE FROM messages WHERE kind = 'status' AND id NOT IN "
            "(SELECT MAX(id) FROM messages WHERE kind = 'status' "
            "GROUP BY stream, COALESCE(key, topic))"
        )
        db.execute("COMMIT")
        rows, size = db.execute("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM messages").fetchone()
        self._rows: int = rows
        self._bytes: int = size
        self._status: dict[str, dict[str, int]] = {}  # stream → key → pending status id
        for stream, key, row_id in db.execute(
            "SELECT stream, COALESCE(key, topic), id FROM messages WHERE kind = 'status'"
        ):
            self._status.setdefault(stream, {})[key] = row_id
        self._tails: dict[str, int] = dict(  # per stream: highest non-status id
            db.execute(
                "SELECT stream, MAX(id) FROM messages WHERE kind != 'status' GROUP BY stream"
            ).fetchall()
        )
        self._counters: dict[str, int] = dict(
            db.execute("SELECT name, value FROM counters").fetchall()
        )

    # -- transactions --------------------------------------------------------------------------

    def _begin(self, synchronous: str) -> None:
        if self._sync != synchronous:
            self._db.execute(f"PRAGMA synchronous={synchronous}")
            self._sync = synchronous
        self._db.execute("BEGIN IMMEDIATE")

    def _snapshot(self) -> _State:
        status = {stream: dict(keys) for stream, keys in self._status.items()}
        return self._rows, self._bytes, dict(self._tails), status, dict(self._counters)

    def _restore(self, state: _State) -> None:
        self._rows, self._bytes, self._tails, self._status, self._counters = state

    def _bump(self, name: str, by: int) -> None:
        if by:
            value = self._counters.get(name, 0) + by
            self._counters[name] = value
            self._db.execute(
                "INSERT INTO counters (name, value) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (name, value),
            )

    # -- the queue -----------------------------------------------------------------------------

    def put(
        self,
        messages: Sequence[OutMessage],
        *,
        live: int = 0,
        counters: Mapping[str, int] | None = None,
        stream: str = "",
    ) -> list[int]:
        """Store ``messages`` in ``stream`` (and set ``counters``) in one transaction; their ids."""
        now = self._clock()
        with self._lock:
            before = self._snapshot()
            self._begin(self._durable)
            try:
                ids = [self._insert(message, live, now, stream) for message in messages]
                for name, value in (counters or {}).items():
                    self._bump(name, value - self._counters.get(name, 0))
                self._enforce_bounds()
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                self._restore(before)
                raise
            return ids

    def _insert(self, message: OutMessage, live: int, now: float, stream: str) -> int:
        key = message.key or message.topic
        if message.kind is Kind.STATUS:
            pending = self._status.get(stream, {}).pop(key, None)
            if pending is not None:
                self._delete([pending])
                self._bump(SUPERSEDED, 1)
        size = len(message.payload) + len(message.topic)
        cursor = self._db.execute(
            "INSERT INTO messages (kind, topic, payload, retain, key, live, created, size, stream) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                message.kind.value,
                message.topic,
                message.payload,
                int(message.retain),
                message.key,
                live,
                now,
                size,
                stream,
            ),
        )
        row_id = cursor.lastrowid
        assert row_id is not None
        self._rows += 1
        self._bytes += size
        if message.kind is Kind.STATUS:
            self._status.setdefault(stream, {})[key] = row_id
        else:
            self._tails[stream] = row_id
        return row_id

    def _delete(self, ids: Sequence[int]) -> None:
        """Delete rows by id inside the open transaction and account for them."""
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            sizes = self._db.execute(
                # Only "?" placeholders are formatted in; the ids themselves are bound.
                f"DELETE FROM messages WHERE id IN ({marks}) RETURNING size",  # noqa: S608
                chunk,
            ).fetchall()
            self._rows -= len(sizes)
            self._bytes -= sum(size for (size,) in sizes)

    def _over(self) -> bool:
        return self._rows > self.bounds.max_rows or self._bytes > self.bounds.max_bytes

    def _enforce_bounds(self) -> None:
        # Oldest first over every stream; rows in flight are skipped (at most a window each).
        dropped, after = 0, 0
        while self._over():
            candidates = self._db.execute(
                "SELECT id, size FROM messages WHERE kind = 'reading' AND id > ? "
                "ORDER BY id LIMIT ?",
                (after, _CHUNK),
            ).fetchall()
            if not candidates:
                break
            after = candidates[-1][0]
            rows, size, chosen = self._rows, self._bytes, []
            for row_id, row_size in candidates:
                if rows <= self.bounds.max_rows and size <= self.bounds.max_bytes:
                    break
                if row_id in self._handed:
                    continue
                chosen.append(row_id)
                rows, size = rows - 1, size - row_size
            self._delete(chosen)
            dropped += len(chosen)
        self._bump(DROPPED_FULL, dropped)
        self._over_bound = self._over()
        if dropped or self._over_bound:
            self._warn(dropped)

    def _warn(self, dropped: int) -> None:
        now = time.monotonic()
        if now - self._last_warning < _WARN_EVERY_S:
            return
        self._last_warning = now
        if self._over_bound:
            log.warning(
                "outbox %s is over its bounds (%d rows, %d bytes) with nothing left to drop "
                "but detections and statuses, which are kept",
                self.path,
                self._rows,
                self._bytes,
            )
        else:
            log.warning(
                "outbox %s full: dropped the %d oldest readings (%d since it was created)",
                self.path,
                dropped,
                self._counters.get(DROPPED_FULL, 0),
            )

    def take(self, limit: int, *, stream: str = "") -> list[Row]:
        """Hand over up to ``limit`` rows of ``stream``: pending statuses first, then the oldest."""
        with self._lock:
            rows: list[Row] = []
            pending = self._status.get(stream)
            if pending and limit > 0:
                ids = sorted(pending.values())[:limit]
                rows += self._fetch(f"id IN ({','.join('?' * len(ids))}) ORDER BY id", ids)
                taken = set(ids)
                left = {k: v for k, v in pending.items() if v not in taken}
                if left:
                    self._status[stream] = left
                else:
                    del self._status[stream]
            tail, cursor = self._tails.get(stream, 0), self._cursors.get(stream, 0)
            if len(rows) < limit and tail > cursor:
                fifo = self._fetch(
                    "stream = ? AND id > ? AND kind != 'status' ORDER BY id LIMIT ?",
                    [stream, cursor, limit - len(rows)],
                )
                # Nothing found means the rest was dropped meanwhile: no backlog left.
                self._cursors[stream] = fifo[-1].id if fifo else tail
                rows += fifo
            self._handed.update((row.id, stream) for row in rows)
            return rows

    def release(self, stream: str = "") -> int:
        """Put the rows of ``stream`` handed over but not acknowledged back; return how many.

        For a broker client that lost its session state (a new client after a reconnect):
        the rows are taken again, in their order, by the next :meth:`take`. A released status
        that a newer pending one has replaced meanwhile is deleted instead.
        """
        with self._lock:
            ids = [i for i, s in self._handed.items() if s == stream]
            if not ids:
                return 0
            for row_id in ids:
                del self._handed[row_id]
            marks = ",".join("?" * len(ids))
            records = self._db.execute(
                # Only "?" placeholders are formatted in; the ids themselves are bound.
                f"SELECT id, kind, COALESCE(key, topic) FROM messages WHERE id IN ({marks})",  # noqa: S608
                ids,
            ).fetchall()
            fifo = [row_id for row_id, kind, _ in records if kind != Kind.STATUS.value]
            if fifo:
                self._cursors[stream] = min(self._cursors.get(stream, 0), min(fifo) - 1)
            pending = self._status.setdefault(stream, {})
            stale = []
            for row_id, kind, key in records:
                if kind == Kind.STATUS.value:
                    if key in pending:
                        stale.append(row_id)
                    else:
                        pending[key] = row_id
            if not pending:
                del self._status[stream]
            if stale:
                self._delete_now(stale, SUPERSEDED)
            return len(ids)

    def relabel(
        self, kind: Kind, classify: Callable[[str], Kind], *, counters: Mapping[str, int]
    ) -> int:
        """Give each row of ``kind`` the kind ``classify(topic)`` says, and set ``counters``.

        One transaction, for a file written before a kind existed (``counters`` records
        that it is done); before anything is taken. Statuses are tracked apart: no row
        becomes one or stops being one here. Returns how many rows changed.
        """
        if kind is Kind.STATUS:
            raise ValueError("statuses cannot be relabelled")
        with self._lock:
            if self._handed:
                raise RuntimeError("relabel before anything is taken")
            changed: dict[Kind, list[int]] = {}
            for row_id, topic in self._db.execute(
                "SELECT id, topic FROM messages WHERE kind = ?", (kind.value,)
            ):
                new = classify(topic)
                if new is Kind.STATUS:
                    raise ValueError(f"{topic}: a row cannot become a status")
                if new is not kind:
                    changed.setdefault(new, []).append(row_id)
            before = self._snapshot()
            self._begin(self._durable)
            try:
                for new, ids in changed.items():
                    for start in range(0, len(ids), _CHUNK):
                        chunk = ids[start : start + _CHUNK]
                        marks = ",".join("?" * len(chunk))
                        self._db.execute(
                            f"UPDATE messages SET kind = ? WHERE id IN ({marks})",  # noqa: S608 (only "?" marks formatted in)
                            [new.value, *chunk],
                        )
                for name, value in counters.items():
                    self._bump(name, value - self._counters.get(name, 0))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                self._restore(before)
                raise
            return sum(len(ids) for ids in changed.values())

    def _delete_now(self, ids: Sequence[int], counter: str) -> None:
        """Delete ``ids`` in a transaction of their own, counting them under ``counter``."""
        before = self._snapshot()
        self._begin("NORMAL")
        try:
            self._delete(ids)
            self._bump(counter, len(ids))
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            self._restore(before)
            raise

    def _fetch(self, where: str, params: Sequence[int | str]) -> list[Row]:
        # The columns are a constant and ``where`` this module's own text; the values are bound.
        records = self._db.execute(
            f"SELECT {_COLUMNS} FROM messages WHERE {where}",  # noqa: S608
            params,
        ).fetchall()
        return [_row(record) for record in records]

    def ack(self, ids: Iterable[int], refused: Iterable[int] = ()) -> None:
        """Delete rows the broker acknowledged, or ``refused`` (counted) for good."""
        with self._lock:
            done = [i for i in ids if self._handed.pop(i, None) is not None]
            rejected = [i for i in refused if self._handed.pop(i, None) is not None]
            if not done and not rejected:
                return
            before = self._snapshot()
            self._begin("NORMAL")
            try:
                self._delete(done + rejected)
                self._bump(REFUSED, len(rejected))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                self._restore(before)
                raise
            if self._rows == 0:
                self._vacuum()

    def _vacuum(self) -> None:
        # Give the space of a drained backlog back to the file system (flash is small).
        now = time.monotonic()
        if now - self._last_vacuum >= _VACUUM_EVERY_S:
            self._last_vacuum = now
            self._db.execute("PRAGMA incremental_vacuum")

    def purge_expired(self) -> int:
        """Drop readings older than ``max_age_s`` that are not in flight; return how many."""
        cutoff = self._clock() - self.bounds.max_age_s
        with self._lock:
            expired = self._expired(cutoff)
            if not expired:
                return 0  # no transaction: many pumps may share one outbox and all purge
            before = self._snapshot()
            self._begin("NORMAL")
            try:
                self._delete(expired)
                self._bump(DROPPED_EXPIRED, len(expired))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                self._restore(before)
                raise
        log.warning(
            "outbox %s: dropped %d readings older than %.0f h",
            self.path,
            len(expired),
            self.bounds.max_age_s / 3600,
        )
        return len(expired)

    def _expired(self, cutoff: float) -> list[int]:
        # Oldest first, stopping at the first young one: ids follow enqueue time, so this
        # reads only what expires (plus one chunk), not the whole backlog. Rows in flight stay.
        expired: list[int] = []
        after = 0
        while True:
            chunk = self._db.execute(
                "SELECT id, created FROM messages WHERE kind = 'reading' AND id > ? "
                "ORDER BY id LIMIT ?",
                (after, _CHUNK),
            ).fetchall()
            for row_id, created in chunk:
                if created >= cutoff:
                    return expired
                if row_id not in self._handed:
                    expired.append(row_id)
            if len(chunk) < _CHUNK:
                return expired
            after = chunk[-1][0]

    # -- state ---------------------------------------------------------------------------------

    @property
    def backlog(self) -> bool:
        """Whether readings or detections of any stream wait to be handed over."""
        return any(tail > self._cursors.get(s, 0) for s, tail in self._tails.items())

    def pending(self, stream: str = "") -> bool:
        """Whether readings or detections of ``stream`` wait to be handed over."""
        return self._tails.get(stream, 0) > self._cursors.get(stream, 0)

    def __len__(self) -> int:
        return self._rows

    def counter(self, name: str, default: int = 0) -> int:
        """A counter kept in the outbox (set through :meth:`put`, so with the rows it counts)."""
        return self._counters.get(name, default)

    def stats(self) -> OutboxStats:
        """Rows and bytes held, in flight, the oldest one's age and what was given up."""
        with self._lock:
            first = self._db.execute("SELECT created FROM messages ORDER BY id LIMIT 1").fetchone()
            c = self._counters
            return OutboxStats(
                rows=self._rows,
                bytes=self._bytes,
                in_flight=len(self._handed),
                oldest_age_s=None if first is None else max(0.0, self._clock() - first[0]),
                dropped_full=c.get(DROPPED_FULL, 0),
                dropped_expired=c.get(DROPPED_EXPIRED, 0),
                refused=c.get(REFUSED, 0),
                superseded=c.get(SUPERSEDED, 0),
                over_bound=self._over_bound,
            )

    def close(self) -> None:
        """Checkpoint the WAL into the database file and close (again: no effect)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                if self._rows == 0:
                    self._db.execute("PRAGMA incremental_vacuum")
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                self._db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
