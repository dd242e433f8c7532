"""The seam between validation and the uplink: where checked messages go to be made safe.

Today the uplink itself implements :class:`Forwarder` (``done`` fires on the cloud broker's
PUBACK); a disk buffer will implement it next (``done`` once the message is on disk) and feed
the uplink from there, without the bridge or the adapters changing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message for the uplink, already in the uplink's topic grammar."""

    topic: str
    payload: bytes
    retain: bool = False


Done = Callable[[str | None], None]
"""Called once per message: with None when it is safe, or with the reason it was refused."""


class Forwarder(Protocol):
    """Takes responsibility for outgoing messages; ``done`` says when it has it."""

    def send(self, message: Outgoing, done: Done) -> None:
        """Take one message; call ``done`` exactly once, from any thread, when it is settled."""
        ...
