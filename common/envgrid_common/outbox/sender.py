"""Moves an outbox's rows to the broker: a bounded window in flight, each row deleted on PUBACK."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from envgrid_common.mqtt import BrokerAddress, PublishRefused, check_publish, connect, new_client
from envgrid_common.outbox.message import OutMessage, wire_payload
from envgrid_common.outbox.store import Outbox

log = logging.getLogger("envgrid.outbox.sender")

DEFAULT_WINDOW = 100
_TICK_S = 0.5
_PURGE_EVERY_S = 60.0
_DISCONNECT_WITH_WILL = 0x04  # MQTT 5: the broker publishes the Will although we say goodbye


@dataclass(frozen=True, slots=True)
class Will:
    """The retained message the broker publishes if this client vanishes."""

    topic: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class SenderStats:
    """What a sender has done since it started."""

    connected: bool
    connects: int
    sent: int
    acked: int
    refused: int
    in_flight: int


class Sender:
    """Publishes what an :class:`Outbox` holds, in order, at QoS 1.

    A message goes to the outbox first (:meth:`submit`); it is handed to the MQTT client at
    once if the client is connected and nothing older waits, and otherwise later, from the
    backlog, with ``"historical": true`` added to its JSON. At most ``window`` messages are
    in flight; a PUBACK deletes the row. After a lost connection paho resends what was in
    flight, then the backlog follows; after a restart everything unacknowledged goes again.
    """

    def __init__(
        self,
        outbox: Outbox,
        address: BrokerAddress,
        client_id: str,
        *,
        will: Will | None = None,
        window: int = DEFAULT_WINDOW,
        keepalive_s: int = 30,
        reconnect_max_s: int = 30,
        on_connect: Callable[[], None] | None = None,
    ) -> None:
        if window < 1:
            raise ValueError("window must be at least 1")
        self.outbox = outbox
        self.address = address
        self.window = window
        self._keepalive_s = keepalive_s
        self._hook = on_connect
        self._client = new_client(client_id, address, max_inflight=window)
        self._client.reconnect_delay_set(min_delay=1, max_delay=reconnect_max_s)
        if will is not None:
            self._client.will_set(will.topic, will.payload, qos=1, retain=True)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_publish = self._on_publish
        # Guards the hand-over (outbox.take → publish → _in_flight); paho callbacks never take
        # it, since paho calls on_publish holding a lock that publish() needs (a deadlock).
        self._lock = threading.Lock()
        self._in_flight: dict[int, int] = {}  # mid → row id
        self._acks: deque[tuple[int, bool]] = deque()  # (mid, refused) from the network thread
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._up = threading.Event()  # set while connected
        self._thread: threading.Thread | None = None
        self._connected = False
        self._epoch = 0  # the current connection; 0 is never one (rows produced offline)
        self._hook_due = False
        self._connects = self._sent = self._acked = self._refused = 0

    # -- life ----------------------------------------------------------------------------------

    def start(self) -> Sender:
        """Connect in the background (retrying with backoff) and start moving rows."""
        connect(self._client, self.address, keepalive=self._keepalive_s, background=True)
        self._client.loop_start()
        self._thread = threading.Thread(target=self._run, name="outbox-sender", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> bool:
        """Wait up to ``timeout_s`` for the outbox to empty, then disconnect; True if it did.

        If something is left, the broker is asked to publish the Will anyway (the node is
        going away; its last status may not have reached the broker).
        """
        drained = self.drain(timeout_s) if self._connected else len(self.outbox) == 0
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        if drained:
            self._client.disconnect()
            self._client.loop_stop()
        elif self.address.v5:
            reason = ReasonCode(PacketTypes.DISCONNECT, identifier=_DISCONNECT_WITH_WILL)
            self._client.disconnect(reasoncode=reason)
            self._client.loop_stop()
        else:
            # MQTT 3.1.1 has no such DISCONNECT: drop the connection without one.
            self._client.loop_stop()
            sock = self._client.socket()
            if isinstance(sock, socket.socket):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        self._collect_acks()  # PUBACKs that came in before the end: fewer duplicates later
        return drained

    def drain(self, timeout_s: float) -> bool:
        """Wait until the outbox is empty; False after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while len(self.outbox):
            if time.monotonic() >= deadline:
                return False
            self._wake.set()
            time.sleep(0.01)
        return True

    # -- producing -----------------------------------------------------------------------------

    def submit(
        self, messages: Sequence[OutMessage], *, counters: Mapping[str, int] | None = None
    ) -> list[int]:
        """Store ``messages`` (with ``counters``) durably, then send them if they can go live."""
        with self._lock:
            live = (
                self._connected
                and not self.outbox.backlog
                and len(self._in_flight) + len(messages) <= self.window
            )
            ids = self.outbox.put(messages, live=self._epoch if live else 0, counters=counters)
            if live:
                self._hand_over(len(messages))
        if not live:
            self._wake.set()
        return ids

    def wait_connected(self, timeout_s: float) -> bool:
        """Wait until the broker connection is up; False after ``timeout_s``."""
        return self._up.wait(timeout_s)

    @property
    def connected(self) -> bool:
        """Whether the broker connection is up."""
        return self._connected

    def stats(self) -> SenderStats:
        """Counters since start."""
        return SenderStats(
            connected=self._connected,
            connects=self._connects,
            sent=self._sent,
            acked=self._acked,
            refused=self._refused,
            in_flight=len(self._in_flight),
        )

    # -- the pump ------------------------------------------------------------------------------

    def _run(self) -> None:
        next_purge = time.monotonic()
        while not self._stopping.is_set():
            self._wake.wait(_TICK_S)
            self._wake.clear()
            try:
                if self._hook_due:
                    self._hook_due = False
                    if self._hook is not None:
                        self._hook()
                self._collect_acks()
                if time.monotonic() >= next_purge:
                    next_purge = time.monotonic() + _PURGE_EVERY_S
                    self.outbox.purge_expired()
            except Exception:
                # The sender must outlive a bad moment (a full disk, say): log and go on.
                log.exception("outbox sender step failed; retrying")
                self._stopping.wait(1.0)

    def _collect_acks(self) -> None:
        acks = []
        while self._acks:
            acks.append(self._acks.popleft())
        with self._lock:
            done: list[int] = []
            refused: list[int] = []
            for mid, failed in acks:
                row_id = self._in_flight.pop(mid, None)
                if row_id is not None:
                    (refused if failed else done).append(row_id)
            if done or refused:
                self.outbox.ack(done, refused)
                self._acked += len(done)
                self._refused += len(refused)
            if self._connected and not self._stopping.is_set():
                self._hand_over(self.window - len(self._in_flight))

    def _hand_over(self, free: int) -> None:
        """Publish up to ``free`` rows from the outbox (caller holds ``_lock``)."""
        if free <= 0:
            return
        for row in self.outbox.take(free):
            payload = wire_payload(row, self._epoch)
            try:
                info = check_publish(
                    self._client.publish(row.topic, payload, qos=1, retain=row.retain)
                )
            except (PublishRefused, ValueError) as error:
                # It would be refused again: give it up, counted, rather than block the queue.
                log.error("cannot publish outbox row %d to %s: %s", row.id, row.topic, error)
                self.outbox.ack((), (row.id,))
                self._refused += 1
                continue
            if info.mid in self._in_flight:
                log.warning("MQTT message id %d reused while in flight", info.mid)
            self._in_flight[info.mid] = row.id
            self._sent += 1

    # -- paho callbacks (network thread: no locks of ours) -------------------------------------

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            log.error("broker %s refused the connection: %s", self.address, reason)
            return
        self._epoch = time.time_ns()
        self._connected = True
        self._up.set()
        self._connects += 1
        self._hook_due = True
        log.info("connected to %s; %d messages wait in the outbox", self.address, len(self.outbox))
        self._wake.set()

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        was, self._connected = self._connected, False
        self._up.clear()
        if was and not self._stopping.is_set():
            log.warning(
                "lost the connection to %s (%s); keeping messages on disk", self.address, reason
            )

    def _on_publish(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason: ReasonCode,
        properties: Properties,
    ) -> None:
        if reason.is_failure:
            log.error("broker refused message %d: %s", mid, reason)
        self._acks.append((mid, reason.is_failure))
        self._wake.set()
