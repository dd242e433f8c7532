"""The day-close sweep: a daily mean is judged after midnight even if its node fell silent.

A daily-mean rule judges a day when the first reading of a later day arrives; a node that
stops sending would leave its last day open. After midnight (Asia/Shanghai) this sweep closes
every day that has ended, with the same result the next reading would have given.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import psycopg

from envgrid_cloud.cases.model import Breach, Cleared
from envgrid_cloud.rules import daily_mean
from envgrid_cloud.rules.engine import Key, RuleCache, apply_outcomes, lock_states, save_states
from envgrid_cloud.rules.evaluate import to_case_event
from envgrid_cloud.rules.model import DailyMeanRule
from envgrid_cloud.rules.sql import load

log = logging.getLogger("envgrid.rules.daily")

# One sweep at a time across processes: pg_try_advisory_xact_lock("envgrid day-close sweep").
_LOCK_KEY = 0x6461_7963_6C6F


class DayCloseSweep:
    """Judges every daily mean whose day has ended by ``now``."""

    def __init__(self, cache: RuleCache | None = None) -> None:
        self._cache = cache or RuleCache()

    def __call__(self, conn: psycopg.Connection[Any], now: datetime) -> int:
        """Sweep once at ``now``; how many days it closed (0 if another process is sweeping)."""
        today = daily_mean.local_day(now).isoformat()
        with conn.transaction(), conn.cursor() as cur:
            got = cur.execute("SELECT pg_try_advisory_xact_lock(%s)", [_LOCK_KEY]).fetchone()
            if not got or not got[0]:
                return 0
            rules = self._rules(cur, cur.execute(load("open_days"), {"today": today}).fetchall())
            if not rules:
                return 0
            states = lock_states(cur, sorted(rules))
            changed: dict[Key, Any] = {}
            events: list[Breach | Cleared] = []
            for key, rule in sorted(rules.items()):
                step = daily_mean.close_day(rule, states.get(key), now)
                changed[key] = step.state
                if step.finding is not None:
                    events.append(to_case_event(step.finding, rule, key[0], key[2]))
            save_states(cur, {k: v for k, v in changed.items() if v != states.get(k)})
            apply_outcomes(cur, events, now)
        log.info("closed %d day(s) of daily means; %d finding(s)", len(rules), len(events))
        return len(rules)

    def _rules(self, cur: psycopg.Cursor[Any], keys: list[Any]) -> dict[Key, DailyMeanRule]:
        found: dict[Key, DailyMeanRule] = {}
        for site_id, rule_id, node_id in keys:
            node = self._cache.get(cur, node_id)
            for rule in node.of_type("daily_mean") if node is not None else ():
                if rule.id == rule_id and isinstance(rule, DailyMeanRule):
                    found[(site_id, rule_id, node_id)] = rule
        return found
