"""Acknowledging messages in the order they arrived, as each becomes safe upstream."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(slots=True, eq=False)
class Ticket:
    """One received message waiting for its acknowledgement."""

    mid: int
    generation: int
    done: bool = field(default=False)


class InOrderAcks:
    """Acknowledge the contiguous completed prefix of what was received, in receipt order.

    MQTT wants PUBACKs in the order the PUBLISHes came; uplink acknowledgements may come back
    in any order, so a completed message waits until every earlier one is complete too.
    ``send_ack`` is called with the lock held, which is what keeps the acks in order.
    """

    def __init__(self, send_ack: Callable[[int], object]) -> None:
        self._send_ack = send_ack
        self._lock = threading.Lock()
        self._shrunk = threading.Condition(self._lock)
        self._queue: deque[Ticket] = deque()
        self._generation = 0
        self.acked = 0

    def received(self, mid: int) -> Ticket:
        """Note a message as it arrives; complete it later with :meth:`complete`."""
        with self._lock:
            ticket = Ticket(mid, self._generation)
            self._queue.append(ticket)
            return ticket

    def complete(self, ticket: Ticket) -> None:
        """Mark a message safe; ack it and any completed ones after it if it heads the queue."""
        with self._lock:
            if ticket.generation != self._generation or ticket.done:
                return  # from a connection since lost: the broker redelivers it
            ticket.done = True
            queue = self._queue
            before = len(queue)
            while queue and queue[0].done:
                self._send_ack(queue.popleft().mid)
                self.acked += 1
            if len(queue) < before:
                self._shrunk.notify_all()

    def reset(self) -> int:
        """Forget everything pending (the connection is gone); return how many were dropped.

        Packet ids belong to a connection: the broker resends unacknowledged messages on the
        next one, so acking the old tickets there could acknowledge the wrong message.
        """
        with self._lock:
            dropped = len(self._queue)
            self._queue.clear()
            self._generation += 1
            self._shrunk.notify_all()
            return dropped

    def wait_below(self, limit: int, timeout_s: float) -> bool:
        """Wait until fewer than ``limit`` are pending; False on timeout."""
        with self._shrunk:
            return self._shrunk.wait_for(lambda: len(self._queue) < limit, timeout_s)

    @property
    def pending(self) -> int:
        """Messages received and not yet acknowledged."""
        return len(self._queue)  # one read of a deque's length needs no lock (asked per packet)
