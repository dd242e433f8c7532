"""The deliverer: sends the outbox, at least once, each channel within its rate.

Every ``ENVGRID_NOTIFY_POLL_S`` it holds and releases rows by the silences, then, for each
enabled channel with rows due, in a transaction of its own:

- locks the channel (``FOR UPDATE SKIP LOCKED``: several API processes share the work, one
  sender per channel at a time);
- checks its rate from the attempts table: fewer than ``rate_per_minute`` messages within the
  last 61 s (a second's margin on the robots' minute) and none within the last 61/rate s, so
  messages are spread over the minute and what arrives meanwhile is gathered;
- takes its due rows (``FOR UPDATE SKIP LOCKED``), oldest first, and makes one message of them:
  one case in full, or a digest (see ``text``);
- sends it, records the attempt with its answer, and marks the rows sent; or, on failure, leaves
  them pending, counts the failure and waits before the next try (2 s doubling to 5 min by
  default); after ``ENVGRID_NOTIFY_FAILING_AFTER`` failures in a row the channel is failing,
  until it answers again.

The send happens inside the transaction: if the process dies midway, the rows are still pending
and are sent again (at least once). Time is whatever ``now`` says, so tests drive it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from envgrid_cloud.notify import dingtalk, email, silences, wecom
from envgrid_cloud.notify.model import Answer, Channel
from envgrid_cloud.notify.sql import load
from envgrid_cloud.notify.text import Composed, Entry, Style, compose
from envgrid_cloud.settings import CloudSettings
from envgrid_common.clock import utc_now

log = logging.getLogger("envgrid.notify")

RATE_WINDOW_S = 61.0  # the robots count a minute; a second more for clocks that differ
ROWS_MAX = 2000  # due rows looked at for one message
POOL_MAX = 4
OPEN_TIMEOUT_S = 10.0
ACQUIRE_TIMEOUT_S = 60.0
RUN_BACKOFF_MAX_S = 30.0  # longest pause of the loop after failed rounds
UNACKNOWLEDGED = ("raised", "dispatched")
LEFT_THE_LOOP = ("closed", "dismissed")

Send = Callable[[httpx.AsyncClient, CloudSettings, Channel, Composed, datetime], Awaitable[Answer]]
KINDS: dict[str, tuple[Style, Send]] = {
    "wecom": (wecom.STYLE, wecom.send),
    "dingtalk": (dingtalk.STYLE, dingtalk.send),
    "email": (email.STYLE, email.send),
}

Pool = AsyncConnectionPool[AsyncConnection[DictRow]]


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message sent (or tried) to a channel."""

    channel_id: int
    attempt_id: int
    ok: bool
    case_ids: tuple[int, ...]
    digest: bool


def backoff_s(failures: int, first_s: float, longest_s: float) -> float:
    """The wait after ``failures`` failures in a row: ``first_s`` doubling, up to ``longest_s``."""
    return float(min(longest_s, first_s * 2 ** min(max(failures - 1, 0), 40)))


def gap_s(rate_per_minute: int) -> float:
    """The least time between two messages of a channel."""
    return RATE_WINDOW_S / rate_per_minute


async def open_notify_pool(database_url: str, max_size: int = POOL_MAX) -> Pool:
    """A small pool of the deliverer's own: it holds a connection while a robot answers."""
    pool = Pool(
        database_url,
        connection_class=AsyncConnection[DictRow],
        kwargs={
            "row_factory": dict_row,
            "autocommit": True,
            "application_name": "envgrid-notify",
        },
        min_size=1,
        max_size=max_size,
        timeout=ACQUIRE_TIMEOUT_S,
        check=Pool.check_connection,
        name="envgrid-notify",
        open=False,
    )
    await pool.open(wait=True, timeout=OPEN_TIMEOUT_S)
    return pool


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _entry(rows: Sequence[DictRow]) -> Entry:
    """The rows of one case due for a channel, as one entry of a message."""
    row = rows[-1]
    case_detail = row["case_detail"] or {}
    detail: dict[str, Any] = {}
    for r in rows:
        detail.update(r["detail"] or {})
    reasons = detail.get("reasons")
    return Entry(
        case_id=row["case_id"],
        events=tuple(r["event"] for r in rows),
        newest=max(r["created_at"] for r in rows),
        severity=row["severity"],
        state=row["state"],
        title=row["title"],
        site_name=row["site_name"],
        site_category=row["site_category"],
        rule_id=row["rule_id"],
        metric=row["metric"],
        last_value=row["last_value"],
        peak_value=row["peak_value"],
        last_seen_at=row["last_seen_at"],
        limit=_number(case_detail.get("limit")),
        direction=case_detail.get("direction") if case_detail.get("direction") else None,
        assignee_name=row["assignee_name"],
        assignee_phone=row["assignee_phone"],
        downstream=all(bool((r["detail"] or {}).get("downstream")) for r in rows),
        reasons=tuple(str(r) for r in reasons) if isinstance(reasons, list) else (),
        reminders=int(detail.get("count", 0)) if "reminder" in (r["event"] for r in rows) else 0,
    )


def _stale(row: DictRow) -> str | None:
    """Why a due row is no longer worth sending, if it is not."""
    if row["event"] == "reminder" and row["state"] not in UNACKNOWLEDGED:
        return f"not sent: the case was {row['state']} before the reminder went"
    if row["silence_id"] is not None and row["state"] in LEFT_THE_LOOP:
        return (
            f"not sent: the case was {row['state']} while silence {row['silence_id']} "
            "held its notifications"
        )
    return None


class Deliverer:
    """Sends what the outbox holds; ``tick(now)`` once, ``run()`` until cancelled."""

    def __init__(
        self,
        settings: CloudSettings,
        pool: Pool,
        http: httpx.AsyncClient,
        clock: Callable[[], datetime] = utc_now,
        concurrency: int = POOL_MAX - 1,
    ) -> None:
        self._settings = settings
        self._pool = pool
        self._http = http
        self._clock = clock
        self._slots = asyncio.Semaphore(max(1, concurrency))

    async def run(self) -> None:
        """Deliver every poll interval until cancelled; after a failed round (the database
        away, a bug) the loop goes on, waiting longer each time, up to ``RUN_BACKOFF_MAX_S``."""
        failures = 0
        while True:
            try:
                await self.tick()
                failures = 0
            except Exception:
                failures += 1
                log.exception("notifications: a delivery round failed (%d in a row)", failures)
            poll = self._settings.notify_poll_s
            await asyncio.sleep(
                backoff_s(failures + 1, poll, RUN_BACKOFF_MAX_S) if failures else poll
            )

    async def tick(self, now: datetime | None = None) -> list[Delivery]:
        """One round at ``now`` (default: the clock): the messages sent or tried."""
        at = now if now is not None else self._clock()
        async with self._pool.connection() as conn:
            await silences.hold_and_release(conn, at)
            cursor = await conn.execute(load("due_channels"), {"now": at})
            channels = [row["id"] for row in await cursor.fetchall()]
        done = await asyncio.gather(*(self._bounded(channel, at) for channel in channels))
        return [d for d in done if d is not None]

    async def _bounded(self, channel_id: int, now: datetime) -> Delivery | None:
        async with self._slots:
            return await self.deliver(channel_id, now)

    async def deliver(self, channel_id: int, now: datetime) -> Delivery | None:
        """The next message of one channel, if its rate allows one and it has rows due."""
        async with self._pool.connection() as conn, conn.transaction():
            row = await _one(conn, "lock_channel", id=channel_id, now=now)
            if row is None:
                return None
            channel = Channel.from_row(row)
            window = await _one(
                conn, "channel_window", id=channel_id, now=now, window_s=RATE_WINDOW_S
            )
            if window and window["recent"] >= channel.rate_per_minute:
                return None
            last = window["last_at"] if window else None
            if last is not None and (now - last).total_seconds() < gap_s(channel.rate_per_minute):
                return None
            rows = await _all(conn, "due_rows", id=channel_id, now=now, limit=ROWS_MAX)
            rows = await self._drop_stale(conn, rows)
            if not rows:
                return None
            waiting = await _one(conn, "waiting_cases", id=channel_id, now=now)
            count = waiting["waiting"] if waiting else 0
            return await self._send(conn, channel, row, rows, count, now)

    async def _drop_stale(
        self, conn: AsyncConnection[DictRow], rows: list[DictRow]
    ) -> list[DictRow]:
        kept: list[DictRow] = []
        dropped: dict[str, list[int]] = {}
        for row in rows:
            why = _stale(row)
            if why is None:
                kept.append(row)
            else:
                dropped.setdefault(why, []).append(row["id"])
        for why, ids in dropped.items():
            await conn.execute(load("outbox_dropped"), {"ids": ids, "why": why})
        return kept

    async def _send(
        self,
        conn: AsyncConnection[DictRow],
        channel: Channel,
        channel_row: DictRow,
        rows: list[DictRow],
        waiting: int,
        now: datetime,
    ) -> Delivery:
        by_case: dict[int, list[DictRow]] = {}
        for row in rows:  # oldest due first
            by_case.setdefault(row["case_id"], []).append(row)
        entries = [_entry(case_rows) for case_rows in by_case.values()]
        style, send = KINDS[channel.kind]
        composed = compose(entries, max(waiting, len(entries)), self._settings.desk_url, style)
        started = time.monotonic()
        try:
            answer = await send(self._http, self._settings, channel, composed, now)
        except Exception as exc:  # a bug in a sender must show on the channel, not stop it
            log.exception("notifications: sending to channel %s failed", channel.id)
            answer = Answer(composed.text, False, error=f"{type(exc).__name__}: {exc}")
        answer = answer.kept()
        case_ids = [e.case_id for e in composed.entries]
        ids = [r["id"] for case_id in case_ids for r in by_case[case_id]]
        attempt = await _one(
            conn,
            "insert_attempt",
            channel_id=channel.id,
            at=now,
            case_ids=case_ids,
            outbox_ids=ids,
            digest=composed.digest,
            request=answer.request,
            ok=answer.ok,
            status=answer.status,
            response=answer.response,
            error=answer.error,
            duration_ms=round((time.monotonic() - started) * 1000),
        )
        assert attempt is not None
        if answer.ok:
            sent = {"ids": ids, "now": now, "attempt_id": attempt["id"]}
            await conn.execute(load("outbox_sent"), sent)
            await conn.execute(load("channel_ok"), {"id": channel.id, "now": now})
        else:
            await self._failed(conn, channel, channel_row, ids, attempt["id"], answer, now)
        return Delivery(channel.id, attempt["id"], answer.ok, tuple(case_ids), composed.digest)

    async def _failed(
        self,
        conn: AsyncConnection[DictRow],
        channel: Channel,
        channel_row: DictRow,
        ids: list[int],
        attempt_id: int,
        answer: Answer,
        now: datetime,
    ) -> None:
        error = answer.error or "failed"
        failures = channel_row["consecutive_failures"] + 1
        wait = backoff_s(
            failures, self._settings.notify_backoff_min_s, self._settings.notify_backoff_max_s
        )
        await conn.execute(
            load("outbox_failed"), {"ids": ids, "error": error, "attempt_id": attempt_id}
        )
        await conn.execute(
            load("channel_failed"),
            {
                "id": channel.id,
                "now": now,
                "retry_at": now + timedelta(seconds=wait),
                "error": error,
                "failing_after": self._settings.notify_failing_after,
            },
        )
        log.warning(
            "notifications: channel %s (%s) failed (%d in a row): %s; next try in %.0fs",
            channel.id, channel.name, failures, error, wait,
        )  # fmt: skip


async def _one(conn: AsyncConnection[DictRow], name: str, **params: Any) -> DictRow | None:
    cursor = await conn.execute(load(name), params)
    return await cursor.fetchone()


async def _all(conn: AsyncConnection[DictRow], name: str, **params: Any) -> list[DictRow]:
    cursor = await conn.execute(load(name), params)
    return await cursor.fetchall()
