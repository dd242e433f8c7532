"""What a replay does with each recorded topic (select, remap) and payload (re-stamp)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson
from paho.mqtt.client import topic_matches_sub

from envgrid_common.topics import NodeChannel, split_node_topic

# The payloads whose ``ts`` and ``historical`` a replay may rewrite: a node's own messages.
STAMPED_CHANNELS = frozenset({NodeChannel.READINGS, NodeChannel.DETECTIONS})


@dataclass(frozen=True, slots=True)
class Selection:
    """Which recorded messages a replay publishes, and under which topic root."""

    filters: tuple[str, ...] = ()  # MQTT filters on the recorded topic; none: every topic
    nodes: frozenset[str] = frozenset()  # node ids; none: every topic, node's or not
    remap: tuple[str, str] | None = None  # topic root FROM → TO

    @classmethod
    def parse_remap(cls, spec: str) -> tuple[str, str]:
        """``FROM:TO`` → (FROM, TO)."""
        source, sep, target = spec.partition(":")
        if not sep or not source or not target:
            raise ValueError(
                f"topic root remap {spec!r}: expected FROM:TO, e.g. envgrid:test/envgrid"
            )
        if any(c in source + target for c in "+#") or source.endswith("/") or target.endswith("/"):
            raise ValueError(f"topic root remap {spec!r}: roots are plain topic levels")
        return source, target


@dataclass(frozen=True, slots=True)
class TopicPlan:
    """The decision for one recorded topic."""

    topic: str | None  # where to publish it; None: skipped by the selection
    node_id: str | None  # the node whose topic it is, if any
    stamped: bool  # a reading or detection: its JSON ``ts``/``historical`` may be rewritten


class Planner:
    """Decides per topic, once: topics repeat, so each message costs a dictionary lookup."""

    def __init__(self, selection: Selection) -> None:
        self._selection = selection
        self._plans: dict[str, TopicPlan] = {}

    def plan(self, topic: str) -> TopicPlan:
        """The decision for ``topic``."""
        plan = self._plans.get(topic)
        if plan is None:
            plan = self._plans[topic] = self._decide(topic)
        return plan

    def _decide(self, topic: str) -> TopicPlan:
        selection = self._selection
        node = split_node_topic(topic)
        node_id = node[1].node_id if node else None
        stamped = node is not None and node[1].channel in STAMPED_CHANNELS
        skipped = TopicPlan(None, node_id, stamped)
        if selection.filters and not any(topic_matches_sub(f, topic) for f in selection.filters):
            return skipped
        if selection.nodes and node_id not in selection.nodes:
            return skipped
        return TopicPlan(remap_root(topic, selection.remap), node_id, stamped)


def remap_root(topic: str, remap: tuple[str, str] | None) -> str:
    """``topic`` with root FROM replaced by TO; topics under other roots unchanged."""
    if remap is None:
        return topic
    source, target = remap
    if topic == source:
        return target
    if topic.startswith(source + "/"):
        return target + topic[len(source) :]
    return topic


Restamp = Callable[[bytes], bytes]


def restamper(offset_s: int, historical: bool | None) -> Restamp | None:
    """A rewrite of a reading's or detection's JSON: ``ts`` moved by ``offset_s`` seconds and
    ``historical`` set (None: kept); None when there is nothing to change.

    Payloads that are not a JSON object with a valid ``ts`` are left as they are: a replay
    sends garbage as it was recorded, since how the system takes garbage is part of a feed.
    """
    if not offset_s and historical is None:
        return None
    offset = timedelta(seconds=offset_s)

    def restamp(payload: bytes) -> bytes:
        try:
            doc = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return payload
        if not isinstance(doc, dict):
            return payload
        changed = False
        if offset_s:
            shifted = shift_timestamp(doc.get("ts"), offset)
            if shifted is not None:
                doc["ts"] = shifted
                changed = True
        if historical is not None and doc.get("historical", False) is not historical:
            doc["historical"] = historical
            changed = True
        return orjson.dumps(doc) if changed else payload

    return restamp


def shift_timestamp(value: object, offset: timedelta) -> str | None:
    """An ISO 8601 time with offset moved by ``offset``, in the same zone; None if not one."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None  # the contract wants an offset: left for the receiver to refuse
    shifted = (parsed + offset).isoformat()
    return shifted[:-6] + "Z" if value.endswith("Z") and shifted.endswith("+00:00") else shifted


def parse_filters(filters: Sequence[str]) -> tuple[str, ...]:
    """Topic filters, checked."""
    for topic_filter in filters:
        if not topic_filter or "#" in topic_filter[:-1] or topic_filter.count("#") > 1:
            raise ValueError(f"invalid topic filter {topic_filter!r}")
    return tuple(filters)
