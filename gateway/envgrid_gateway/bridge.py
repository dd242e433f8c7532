"""Validation and routing: every device message goes upstream as it is, or as a dead letter."""

from __future__ import annotations

import logging

from envgrid_common.topics import NodeChannel, NodeTopic, Topics
from envgrid_common.validation import Rejected, dead_letter, validate
from envgrid_gateway.adapters import Inbound
from envgrid_gateway.outbound import Forwarder, Outgoing
from envgrid_gateway.stats import QuietLog, Stats, reason_class

log = logging.getLogger("envgrid.gateway.bridge")

# A dead letter keeps the refused bytes, but not without bound: a broker drops the connection
# on a packet over its limit, and paho would resend it after every reconnect, forever.
MAX_DEAD_LETTER_BYTES = 1024 * 1024


class Bridge:
    """The adapters' sink: validate, forward or dead-letter, ack the source once settled."""

    def __init__(
        self,
        gateway_id: str,
        local: Topics,
        uplink: Topics,
        forwarder: Forwarder,
        stats: Stats | None = None,
        dead_letter_log: QuietLog | None = None,
    ) -> None:
        self._gateway_id = gateway_id
        self._local = local
        self._uplink = uplink
        self._forwarder = forwarder
        self._dead_letter_topic = uplink.dead_letter(gateway_id)
        self.stats = stats or Stats()
        self.dead_letter_log = dead_letter_log or QuietLog(log)

    def __call__(self, inbound: Inbound) -> None:
        """Handle one message (called from an adapter's thread)."""
        self.stats.add("received")
        if inbound.redelivered:
            self.stats.add("redelivered")
        if inbound.refused is not None:
            self._dead_letter(inbound, inbound.refused)
            return
        try:
            accepted = validate(self._local, inbound.topic, inbound.payload)
        except Rejected as rejected:
            cleared = self._retained_clear(inbound)
            if cleared is None:
                self._dead_letter(inbound, rejected.reason)
            else:
                cleared_topic = self._uplink_topic(cleared)
                self._forward(inbound, Outgoing(cleared_topic, b"", retain=True, parsed=cleared))
            return
        # Status is retained by contract; an MQTT 3.1.1 broker clears the flag on live
        # delivery, so restore it rather than trust it.
        retain = inbound.retain or accepted.topic.channel is NodeChannel.STATUS
        topic = accepted.topic
        outgoing = Outgoing(self._uplink_topic(topic), inbound.payload, retain, parsed=topic)
        self._forward(inbound, outgoing)

    def _retained_clear(self, inbound: Inbound) -> NodeTopic | None:
        # An empty retained status is how an operator clears a retired node's status: pass it.
        if not (inbound.retain and not inbound.payload):
            return None
        parsed = self._local.parse_node_topic(inbound.topic)
        return parsed if parsed is not None and parsed.channel is NodeChannel.STATUS else None

    def _uplink_topic(self, topic: NodeTopic) -> str:
        if topic.channel is NodeChannel.SNAPSHOTS and topic.event_id is not None:
            return self._uplink.snapshot(topic.node_id, topic.event_id)
        return self._uplink.node(topic.node_id, topic.channel)

    def _forward(self, inbound: Inbound, outgoing: Outgoing) -> None:
        self.stats.add("pending")

        def done(refused: str | None) -> None:
            self.stats.add("pending", -1)
            if refused is None:
                self.stats.add("forwarded")
                inbound.ack()
            else:
                # The uplink broker would not take it (too large, not authorised, …):
                # keep it as a dead letter rather than retrying forever or dropping it.
                self.stats.add("uplink_refused")
                self._dead_letter(inbound, f"uplink refused {outgoing.topic}: {refused}")

        self._forwarder.send(outgoing, done)

    def _dead_letter(self, inbound: Inbound, reason: str) -> None:
        kind = reason_class(reason)
        self.stats.add("dead_lettered")
        self.stats.add(f"rejected_{kind}")
        self.dead_letter_log.info("dead letter (%s) from %s: %s", kind, inbound.topic, reason)
        body = inbound.payload
        if len(body) > MAX_DEAD_LETTER_BYTES:
            reason += f" (first {MAX_DEAD_LETTER_BYTES} of {len(body)} bytes kept)"
            body = body[:MAX_DEAD_LETTER_BYTES]
        letter = dead_letter(self._gateway_id, inbound.topic, body, reason)
        payload = letter.model_dump_json().encode()
        self.stats.add("pending")

        def done(refused: str | None) -> None:
            self.stats.add("pending", -1)
            if refused is not None:
                # Nowhere left to put it; acking is the only way not to stall every node.
                self.stats.add("lost")
                log.error("uplink refused the dead letter for %s: %s", inbound.topic, refused)
            inbound.ack()

        self._forwarder.send(Outgoing(self._dead_letter_topic, payload), done)
