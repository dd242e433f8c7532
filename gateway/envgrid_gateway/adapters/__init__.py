"""Protocol adapters: one module per protocol the gateway speaks to devices.

An adapter turns what devices send into :class:`Inbound` messages in envgrid's topic grammar
and hands them to the bridge; the bridge calls ``ack`` once the message is safe upstream, and
only then may the adapter acknowledge it to the device (or its broker).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Inbound:
    """One message from a device, with the way to acknowledge it once it is safe."""

    topic: str
    payload: bytes
    retain: bool
    ack: Callable[[], None]
    redelivered: bool = False
    refused: str | None = None  # already refused by the adapter (why): dead-letter it as it is


Sink = Callable[[Inbound], None]
"""Where an adapter hands its messages (the bridge); it may be called from any thread."""


class Adapter(Protocol):
    """A source of device messages (MQTT nodes, HJ 212 data loggers)."""

    @property
    def name(self) -> str:
        """Short name for logs and counters."""
        ...

    @property
    def ready(self) -> bool:
        """Whether the adapter is currently receiving."""
        ...

    def start(self, sink: Sink) -> None:
        """Begin receiving and hand every message to ``sink``."""
        ...

    def pause(self) -> None:
        """Stop handing new messages on (they stay unacknowledged), keep acknowledging."""
        ...

    def stop(self) -> None:
        """Send what acknowledgements are due and disconnect."""
        ...

    def counters(self) -> dict[str, int]:
        """Adapter-specific counters for the gateway status."""
        ...
