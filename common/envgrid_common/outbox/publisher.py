"""What the store-and-forward pump publishes through: QoS 1, a PUBACK with its reason code."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from paho.mqtt.reasoncodes import ReasonCode

log = logging.getLogger("envgrid.outbox.publisher")

NO_MATCHING_SUBSCRIBERS = 0x10  # MQTT 5 PUBACK: accepted, delivered to nobody
UNSPECIFIED_ERROR = 0x80  # MQTT 5: the first failure code; the pump's code for "not sent"


@dataclass(frozen=True, slots=True)
class Puback:
    """How a broker settled one message: an MQTT 5 reason code (0 on MQTT 3.1.1) and its text."""

    code: int = 0
    reason: str = ""

    @property
    def refused(self) -> bool:
        """The broker will not take it (resending would be refused again)."""
        return self.code >= UNSPECIFIED_ERROR

    @property
    def to_nobody(self) -> bool:
        """Accepted, but no subscriber matched: gone unless the broker retains it."""
        return self.code == NO_MATCHING_SUBSCRIBERS

    @classmethod
    def of(cls, reason: ReasonCode) -> Puback:
        """The PUBACK paho reports as ``reason``."""
        return cls(reason.value, str(reason) if reason.value else "")


DELIVERED = Puback()

Settle = Callable[[Puback], None]
"""Called once per published message with its PUBACK; from any thread, and it must not block."""


class Publisher(Protocol):
    """A broker connection the pump hands messages to."""

    @property
    def connected(self) -> bool:
        """Whether what is published now goes out now."""
        ...

    def publish(self, topic: str, payload: bytes, retain: bool, settle: Settle) -> None:
        """Publish at QoS 1 and call ``settle`` on the PUBACK.

        Raise :class:`~envgrid_common.mqtt.PublishRefused` (or ``ValueError``) if this
        message can never be taken; any other error means the connection is unusable.
        """
        ...


T = TypeVar("T")


class Settlements(Generic[T]):
    """Matches PUBACKs (as a ``T``: a :class:`Puback`, say) to their callback by message id.

    A PUBACK may come (on the network thread) before ``publish()`` has returned its id; it
    waits here until :meth:`expect` is called for that id. Neither method holds a lock while
    calling out: paho calls ``on_publish`` holding a lock that ``publish()`` needs.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[int, Callable[[T], None]] = {}
        self._early: dict[int, T] = {}

    def expect(self, mid: int, settle: Callable[[T], None]) -> None:
        """Note that message ``mid`` was published; settle it at once if its PUBACK is here."""
        with self._lock:
            if mid not in self._early:
                if mid in self._waiting:
                    log.warning("MQTT message id %d reused while in flight", mid)
                self._waiting[mid] = settle
                return
            early = self._early.pop(mid)
        settle(early)

    def puback(self, mid: int, outcome: T) -> bool:
        """The broker's PUBACK for ``mid``; False if it came before :meth:`expect`."""
        with self._lock:
            settle = self._waiting.pop(mid, None)
            if settle is None:
                self._early[mid] = outcome
                return False
        settle(outcome)
        return True

    def __len__(self) -> int:
        return len(self._waiting)  # one read of a dict's length needs no lock (asked per publish)
