"""The seam between validation and the uplink: where checked messages go to be made safe.

The bridge hands messages to a :class:`Forwarder`: the disk buffer (``done`` once the message
is on disk), which feeds the uplink (``done`` on the cloud broker's PUBACK).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from envgrid_common.topics import NodeTopic


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message for the uplink, already in the uplink's topic grammar.

    ``parsed`` is its topic as the bridge parsed it (None for a dead letter), carried so that
    nothing downstream parses the topic again.
    """

    topic: str
    payload: bytes
    retain: bool = False
    parsed: NodeTopic | None = field(default=None, compare=False)


Done = Callable[[str | None], None]
"""Called once per message: with None when it is safe, or with the reason it was refused."""

NO_SUBSCRIBERS = "no matching subscribers"
"""What the uplink's ``done`` says when the broker took a message but had nobody to give it
to (MQTT 5 PUBACK reason 0x10): after a broker restart, Mosquitto 2.0 forgets shared
subscriptions until the ingest subscribes again, and what comes meanwhile would be gone."""


class Forwarder(Protocol):
    """Takes responsibility for outgoing messages; ``done`` says when it has it."""

    def send(self, message: Outgoing, done: Done) -> None:
        """Take one message; call ``done`` exactly once, from any thread, when it is settled."""
        ...
