"""The rules at work: what a batch stored for the first time, judged inside its transaction.

The ingest calls :meth:`RuleEngine.judge` with the readings, detections and status changes a
batch really inserted (a duplicate is never judged twice), in the batch's own transaction: the
rule states, the cases and the rows commit together or not at all, so a crash between them
loses or repeats nothing. Several ingest workers agree because each locks the rule states it
uses, in key order, before judging. The engine is handed to the ingest where its workers are
built (``envgrid_cloud.ingest_processes``), so neither imports the other.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from envgrid_cloud.cases.model import Breach, Cleared
from envgrid_cloud.cases.store import raise_or_update, record_cleared
from envgrid_cloud.observations import Fresh, Observation, ReadingRecord
from envgrid_cloud.rules.evaluate import evaluate, to_case_event
from envgrid_cloud.rules.model import AqiRule, Rule, RuleError
from envgrid_cloud.rules.packs import SiteRules, rules_for_site
from envgrid_cloud.rules.sql import load
from envgrid_common.clock import WallClock, utc_now
from envgrid_common.registry import SiteCategory

log = logging.getLogger("envgrid.rules")

# Rules that judge readings; while their node is offline they raise nothing (its offline
# case stands for it), though their state still follows the data.
READING_TYPES = ("threshold", "rate_of_change", "stuck", "daily_mean", "aqi", "no_data")

Key = tuple[str, str, str]  # site id, rule id, node id


@dataclass(frozen=True, slots=True)
class NodeRules:
    """A node's site and the rules that apply there."""

    site_id: str
    rules: tuple[Rule, ...]
    report_interval_s: float | None = None  # the node's (the no-data rule's silences)

    def of_type(self, *types: str) -> list[Rule]:
        """The rules of these types."""
        return [rule for rule in self.rules if rule.type in types]


class RuleCache:
    """Each node's site rules (pack + site overrides), reloaded every ``max_age_s``."""

    def __init__(
        self, max_age_s: float = 10.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._max_age_s = max_age_s
        self._clock = clock
        self._loaded_at: float | None = None
        self._nodes: dict[str, NodeRules] = {}
        self._broken: set[str] = set()  # sites whose overrides were refused, logged once

    def get(self, cur: psycopg.Cursor[Any], node_id: str) -> NodeRules | None:
        """The rules for ``node_id`` (None: a node the registry does not know)."""
        if self._loaded_at is None or self._clock() - self._loaded_at >= self._max_age_s:
            self._load(cur)
        return self._nodes.get(node_id)

    def _load(self, cur: psycopg.Cursor[Any]) -> None:
        nodes: dict[str, NodeRules] = {}
        by_site: dict[str, tuple[Rule, ...]] = {}
        for (
            node_id,
            site_id,
            interval_s,
            category,
            target_class,
            water_type,
            overrides,
        ) in cur.execute(load("site_rules")).fetchall():
            if site_id not in by_site:
                site = SiteRules(
                    site_id, SiteCategory(category), target_class, water_type, overrides or {}
                )
                by_site[site_id] = self._rules(site)
            nodes[node_id] = NodeRules(site_id, by_site[site_id], interval_s)
        self._nodes = nodes
        self._loaded_at = self._clock()

    def _rules(self, site: SiteRules) -> tuple[Rule, ...]:
        try:
            rules = rules_for_site(site)
            self._broken.discard(site.site_id)
        except RuleError as error:
            # A bad override must not stop the stream: judge by the pack until it is fixed.
            if site.site_id not in self._broken:
                self._broken.add(site.site_id)
                log.error(
                    "site %s: rule overrides refused (%s); using its pack", site.site_id, error
                )
            rules = rules_for_site(replace(site, overrides={}))
        return tuple(rules)


class RuleEngine:
    """The ingest's :class:`~envgrid_cloud.ingest.store.Judge`: rules → rule state → cases."""

    def __init__(self, cache: RuleCache | None = None, clock: WallClock = utc_now) -> None:
        self._cache = cache or RuleCache()
        self._clock = clock

    def judge(self, cur: psycopg.Cursor[Any], fresh: Fresh) -> None:
        """Judge ``fresh``; every change lands in ``cur``'s transaction."""
        work = _Work()
        for node_id, samples in _by_node(fresh.readings).items():
            work.add(self._cache.get(cur, node_id), node_id, READING_TYPES, samples)
        for event in fresh.detections:
            work.add(self._cache.get(cur, event.node_id), event.node_id, ("detection",), [event])
        for change in fresh.status_changes:
            work.add(self._cache.get(cur, change.node_id), change.node_id, ("offline",), [change])
        if not work.keys:
            return
        keys = sorted(work.keys)
        states = lock_states(cur, keys)
        muted = _offline(cur, sorted({k[2] for k in keys}))
        changed, events = work.run(states, muted)
        save_states(cur, {k: v for k, v in changed.items() if v != states.get(k)})
        apply_outcomes(cur, events, self._clock())


class _Work:
    """What one batch asks of the rules, gathered before any lock is taken."""

    def __init__(self) -> None:
        self.keys: set[Key] = set()
        self._items: list[tuple[NodeRules, str, list[Rule], Sequence[Observation]]] = []

    def add(
        self,
        node: NodeRules | None,
        node_id: str,
        types: tuple[str, ...],
        observations: Sequence[Observation],
    ) -> None:
        if node is None:
            return  # unknown to the registry (removed since): nothing to judge by
        rules = node.of_type(*types)
        # A rule on a metric none of these readings carry would only be handed them to ignore
        # them: leave it out, and its state unlocked.
        carried = {m for o in observations if isinstance(o, ReadingRecord) for m in o.values}
        if carried:
            rules = [r for r in rules if _judges(r, carried)]
        if rules:
            self._items.append((node, node_id, rules, observations))
            self.keys.update((node.site_id, rule.id, node_id) for rule in rules)

    def run(
        self, states: dict[Key, Any], muted: set[str]
    ) -> tuple[dict[Key, Any], list[Breach | Cleared]]:
        changed: dict[Key, Any] = {}
        events: list[Breach | Cleared] = []
        for node, node_id, rules, observations in self._items:
            site_id, interval_s = node.site_id, node.report_interval_s
            mute = node_id in muted
            for rule in rules:
                key = (site_id, rule.id, node_id)
                state = changed.get(key, states.get(key))
                for observation in observations:
                    step = evaluate(rule, state, observation, report_interval_s=interval_s)
                    state = step.state
                    for finding in (step.finding, step.also):
                        if finding is None:
                            continue
                        event = to_case_event(finding, rule, site_id, node_id)
                        if not (mute and rule.type in READING_TYPES and isinstance(event, Breach)):
                            events.append(event)
                changed[key] = state
        return changed, events


def _judges(rule: Rule, carried: set[str]) -> bool:
    """Whether ``rule`` looks at any of the metrics ``carried`` (always, for one on none)."""
    if isinstance(rule, AqiRule):
        return not carried.isdisjoint(rule.metrics)
    metric: str | None = getattr(rule, "metric", None)
    return metric is None or metric in carried


def apply_outcomes(
    cur: psycopg.Cursor[Any], events: Iterable[Breach | Cleared], now: datetime
) -> None:
    """Open, update or mark cleared the cases, in (site, rule) order (the lock order).

    Breaches of one case that follow each other are counted in one write: a sensor stuck far
    over its limit reporting every second costs one case update a batch, not one a reading.
    """
    ordered = sorted(events, key=lambda e: (e.site_id, e.rule_id))  # stable: source order kept
    for event in _runs(ordered):
        if isinstance(event, Breach):
            raise_or_update(cur, event, now)
        else:
            record_cleared(cur, event, now)


def _runs(events: list[Breach | Cleared]) -> Iterator[Breach | Cleared]:
    run: list[Breach] = []
    for event in events:
        if run and not (isinstance(event, Breach) and _same_case(run[-1], event)):
            yield _counted(run)
            run = []
        if isinstance(event, Breach):
            run.append(event)
        else:
            yield event
    if run:
        yield _counted(run)


def _same_case(a: Breach, b: Breach) -> bool:
    # A change of severity starts a new run: the higher severity's deadlines then run from its
    # own first breach, however the readings were cut into batches.
    return (a.site_id, a.rule_id, a.severity) == (b.site_id, b.rule_id, b.severity)


def _counted(run: list[Breach]) -> Breach:
    """One breach standing for ``run`` (one case's, in source order)."""
    if len(run) == 1:
        return run[0]
    first, last = run[0], run[-1]
    peaks = (b.peak if b.peak is not None else b.value for b in run)
    values = [v for v in peaks if v is not None]
    worst = min if last.detail.get("direction") == "below" else max
    return replace(
        last,
        occurrences=sum(b.occurrences for b in run),
        first_at=first.first_at or first.at,
        first_value=first.first_value if first.first_at else first.value,
        peak=worst(values) if values else None,
    )


def lock_states(cur: psycopg.Cursor[Any], keys: Sequence[Key]) -> dict[Key, Any]:
    """The states of ``keys`` (None where new), locked until the transaction ends."""
    columns = _columns(keys)
    cur.execute(load("create_states"), columns)
    rows = cur.execute(load("lock_states"), columns).fetchall()
    return {(s, r, n): state for s, r, n, state in rows}


def save_states(cur: psycopg.Cursor[Any], states: dict[Key, Any]) -> None:
    """Write states of locked keys, in one statement."""
    if not states:
        return
    keys = sorted(states)
    columns = _columns(keys)
    columns["states"] = [Jsonb(states[k]) for k in keys]
    cur.execute(load("save_states"), columns)


def _columns(keys: Sequence[Key]) -> dict[str, list[Any]]:
    return {
        "site_ids": [k[0] for k in keys],
        "rule_ids": [k[1] for k in keys],
        "node_ids": [k[2] for k in keys],
    }


def _by_node(readings: Sequence[ReadingRecord]) -> dict[str, list[ReadingRecord]]:
    """Readings per node, in source order (a batch may hold them out of order)."""
    by_node: dict[str, list[ReadingRecord]] = defaultdict(list)
    for reading in readings:
        by_node[reading.node_id].append(reading)
    for samples in by_node.values():
        samples.sort(key=_source_order)
    return by_node


def _source_order(reading: ReadingRecord) -> tuple[datetime, int]:
    return reading.ts, reading.seq


def _offline(cur: psycopg.Cursor[Any], node_ids: list[str]) -> set[str]:
    return {row[0] for row in cur.execute(load("offline_nodes"), {"node_ids": node_ids})}
