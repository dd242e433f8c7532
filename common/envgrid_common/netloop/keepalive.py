"""When to ping the broker, and when a connection is dead: every byte received proves it alive.

paho's own rule (2.x ``loop_misc``) sends a PINGREQ every keepalive period whatever else is
sent, and drops the connection when that PINGREQ's answer has not been *handled* within one
period. The answer travels behind everything the broker sent before it, so a subscriber that
holds a backlog in its socket (Mosquitto 2.0 hands a subscriber its whole queue once it starts
acknowledging, whatever the Receive Maximum), or that stops reading on purpose to hold the
broker back, is cut off although bytes arrive all the time: the "Keep alive timeout" seen
under load. Here a connection is alive while bytes come in, or wait to be read.
"""

from __future__ import annotations

from dataclasses import dataclass

# The whole MQTT PINGREQ packet (fixed header, no body).
PINGREQ = b"\xc0\x00"
# The broker drops a client it has heard nothing from in 1.5 keepalive periods (MQTT 3.1.2.10);
# the same grace applies here to a broker that sends nothing, not even a PINGRESP.
GRACE = 1.5


@dataclass(frozen=True, slots=True)
class Keepalive:
    """The rule for one connection with a keepalive of ``period_s`` seconds (0: none)."""

    period_s: float

    def ping_due(
        self, now: float, last_sent: float, last_received: float, ping_sent_at: float | None
    ) -> bool:
        """Whether to send a PINGREQ now.

        When nothing was sent for half a period (the broker must hear from us within one), or
        nothing came for half a period and no ping asked since (a silent broker must answer).
        """
        if self.period_s <= 0:
            return False
        half = self.period_s / 2
        if now - last_sent >= half:
            return True
        unanswered = ping_sent_at is not None and ping_sent_at >= last_received
        return now - last_received >= half and not unanswered

    def dead(self, now: float, last_received: float) -> bool:
        """Whether nothing has come for too long: no data, no PINGRESP, for 1.5 periods."""
        return self.period_s > 0 and now - last_received >= GRACE * self.period_s
