"""A node's way out, shared by every edge agent: the outbox on disk, its sender, the status."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Literal

from envgrid_common.clock import WallClock as Clock
from envgrid_common.messages import NodeState, NodeStatus
from envgrid_common.outbox import Kind, Outbox, OutMessage, Sender, Will
from envgrid_common.sequence import FIRST_SEQ, seq_counter
from envgrid_edge.config import AgentConfig

log = logging.getLogger("envgrid.edge.link")

NodeKind = Literal["sensor", "camera"]
# No message of this software can be older: an earlier clock is unset (no RTC, no NTP yet).
CLOCK_FLOOR = datetime(2025, 1, 1, tzinfo=UTC)


def status_payload(state: NodeState, ts: datetime | None, kind: NodeKind = "sensor") -> bytes:
    """A node's status body (the Will carries no ``ts``: it is not when the node left)."""
    return NodeStatus(state=state, ts=ts, kind=kind).model_dump_json(exclude_none=True).encode()


class NodeLink:
    """One node's outbox and the sender that empties it, with its online status and Will."""

    def __init__(self, config: AgentConfig, kind: NodeKind, *, clock: Clock | None = None) -> None:
        self.config = config
        self.kind: NodeKind = kind
        zone = timezone(timedelta(hours=config.utc_offset_h))
        self._clock = clock or (lambda: datetime.now(zone))
        self.status_topic = config.topics.status(config.node_id)
        self.seq_key = seq_counter(config.node_id)
        self.outbox = Outbox(
            config.outbox_path, config.outbox.bounds, durability=config.outbox.durability
        )
        try:
            self.sender = Sender(
                self.outbox,
                config.address,
                config.client_id or config.node_id,
                will=Will(self.status_topic, status_payload(NodeState.OFFLINE, None, kind)),
                window=config.outbox.window,
                on_connect=self._say_online,
            )
        except BaseException:
            self.outbox.close()
            raise

    @property
    def next_seq(self) -> int:
        """The sequence number the next message gets."""
        return self.outbox.counter(self.seq_key, FIRST_SEQ)

    def now(self) -> datetime:
        """The wall clock, to the millisecond (what goes into ``ts``)."""
        now = self._clock()
        return now.replace(microsecond=now.microsecond // 1000 * 1000)

    def start(self) -> None:
        """Connect in the background and start forwarding."""
        self.sender.start()

    def submit(
        self, messages: Sequence[OutMessage], *, counters: Mapping[str, int] | None = None
    ) -> list[int]:
        """Store ``messages`` durably (with ``counters``), then send what the window allows."""
        return self.sender.submit(messages, counters=counters)

    def _say_online(self) -> None:
        self.status(NodeState.ONLINE)

    def status(self, state: NodeState) -> None:
        """Queue the node's retained status (only the newest pending one is kept)."""
        payload = status_payload(state, self.now(), self.kind)
        message = OutMessage(
            Kind.STATUS, self.status_topic, payload, retain=True, key=self.config.node_id
        )
        self.sender.submit([message])

    def describe(self) -> str:
        """The link's part of a progress line: connection and what waits in the outbox."""
        box = self.outbox.stats()
        sent = self.sender.stats()
        oldest = "" if box.oldest_age_s is None else f", oldest {box.oldest_age_s:.0f}s"
        return (
            f"{'connected' if sent.connected else 'disconnected'}; outbox {box.rows} waiting"
            f"{oldest}, {box.in_flight} in flight, {box.dropped} dropped, {box.refused} refused"
        )

    def say_offline_and_stop(self, timeout_s: float) -> bool:
        """Queue ``offline``, give the outbox ``timeout_s`` to empty, disconnect; True if it did."""
        self.status(NodeState.OFFLINE)
        drained = self.sender.stop(timeout_s)
        if not drained:
            log.info("%d messages stay in the outbox for the next start", len(self.outbox))
        return drained

    def close(self) -> None:
        """Close the outbox file."""
        self.outbox.close()
