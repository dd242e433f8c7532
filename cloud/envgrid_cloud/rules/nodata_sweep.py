"""The no-data sweep: silence sends nothing, so a timer judges it.

Only live data counts: the ingest stamps ``nodes.last_live_at`` for live readings alone, so
a backfilled backlog neither opens nor clears a no-data case (the clear comes with the first
live reading, in the ingest). An offline node is muted: its offline case stands for it.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import psycopg

from envgrid_cloud.cases.model import Breach, Cleared
from envgrid_cloud.rules import nodata
from envgrid_cloud.rules.engine import Key, RuleCache, apply_outcomes, lock_states, save_states
from envgrid_cloud.rules.evaluate import to_case_event
from envgrid_cloud.rules.model import NoDataRule
from envgrid_cloud.rules.sql import load

log = logging.getLogger("envgrid.rules.nodata")

# One sweep at a time across processes: pg_try_advisory_xact_lock("envgrid no-data sweep").
_LOCK_KEY = 0x6E6F_6461_7461


class NoDataSweep:
    """Raises a no-data case for each node newly silent past its tolerance."""

    def __init__(self, cache: RuleCache | None = None) -> None:
        self._cache = cache or RuleCache()

    def __call__(self, conn: psycopg.Connection[Any], now: datetime) -> int:
        """Sweep once at ``now``; how many cases it raised (0 if another process is sweeping)."""
        with conn.transaction(), conn.cursor() as cur:
            got = cur.execute("SELECT pg_try_advisory_xact_lock(%s)", [_LOCK_KEY]).fetchone()
            if not got or not got[0]:
                return 0
            silent = self._overdue(cur, now)
            if not silent:
                return 0
            states = lock_states(cur, sorted(silent))
            changed: dict[Key, Any] = {}
            events: list[Breach | Cleared] = []
            for key, (rule, last_live_at, interval_s) in sorted(silent.items()):
                step = nodata.sweep(
                    rule,
                    states.get(key),
                    now=now,
                    last_live_at=last_live_at,
                    report_interval_s=interval_s,
                    node_offline=False,
                )
                changed[key] = step.state
                if step.finding is not None and step.finding.kind == "breach":
                    events.append(to_case_event(step.finding, rule, key[0], key[2]))
            save_states(cur, {k: v for k, v in changed.items() if v != states.get(k)})
            apply_outcomes(cur, events, now)
        if events:
            log.info("no data: %d node(s) newly silent", len(events))
        return len(events)

    def _overdue(
        self, cur: psycopg.Cursor[Any], now: datetime
    ) -> dict[Key, tuple[NoDataRule, datetime, float]]:
        silent: dict[Key, tuple[NoDataRule, datetime, float]] = {}
        for node_id, site_id, interval_s, last_live_at, offline in cur.execute(
            load("silent_nodes")
        ).fetchall():
            node = self._cache.get(cur, node_id)
            if node is None:
                continue
            for rule in node.of_type("no_data"):
                assert isinstance(rule, NoDataRule)
                if nodata.overdue(now, last_live_at, interval_s, rule.tolerance, offline):
                    silent[(site_id, rule.id, node_id)] = (rule, last_live_at, interval_s)
        return silent
