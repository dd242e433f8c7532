"""The edge agent's link: a paho client that the store-and-forward pump publishes through."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from envgrid_common.mqtt import BrokerAddress, check_publish, connect, new_client
from envgrid_common.outbox.message import OutMessage
from envgrid_common.outbox.publisher import Puback, Settle, Settlements
from envgrid_common.outbox.pump import DEFAULT_WINDOW, Pump
from envgrid_common.outbox.store import Outbox

log = logging.getLogger("envgrid.outbox.sender")

__all__ = ["DEFAULT_WINDOW", "Sender", "SenderStats", "Will"]

_TICK_S = 0.5
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
    """Publishes what an :class:`Outbox` holds through a :class:`~.pump.Pump`, at QoS 1.

    A message goes to the outbox first (:meth:`submit`) and is handed to the MQTT client at
    once if the window allows; live or historical is the pump's rule. paho resends what was
    in flight after a lost connection; after a restart everything unacknowledged goes again.
    By default a PUBACK saying nobody subscribed deletes the row like any other: a node's
    broker keeps its messages for the gateway's persistent session, so "nobody" means nobody
    wants them; ``resend_undelivered`` keeps such rows and sends them again instead.
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
        resend_undelivered: bool = False,
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
        self._settlements: Settlements[Puback] = Settlements()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._up = threading.Event()  # set while connected
        self._thread: threading.Thread | None = None
        self._hook_due = False
        self._connects = 0
        self.pump = Pump(
            outbox, self, window=window, resend_undelivered=resend_undelivered, wake=self._wake.set
        )

    # -- the publisher the pump uses -----------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether the broker connection is up."""
        return self._up.is_set()

    def publish(self, topic: str, payload: bytes, retain: bool, settle: Settle) -> None:
        """Hand one message to paho at QoS 1 (queued by paho while disconnected)."""
        info = check_publish(self._client.publish(topic, payload, qos=1, retain=retain))
        self._settlements.expect(info.mid, settle)

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
        drained = self.drain(timeout_s) if self.connected else len(self.outbox) == 0
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
        self.pump.collect()  # PUBACKs that came in before the end: fewer duplicates later
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
        """Store ``messages`` (with ``counters``) durably, then send what the window allows."""
        ids = self.pump.put(messages, counters=counters)
        if not self._stopping.is_set():
            self.pump.step()
        return ids

    def wait_connected(self, timeout_s: float) -> bool:
        """Wait until the broker connection is up; False after ``timeout_s``."""
        return self._up.wait(timeout_s)

    def stats(self) -> SenderStats:
        """Counters since start."""
        pump = self.pump.stats()
        return SenderStats(
            connected=self.connected,
            connects=self._connects,
            sent=pump.sent,
            acked=pump.acked,
            refused=pump.refused,
            in_flight=pump.in_flight,
        )

    # -- the driver ----------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(_TICK_S)
            self._wake.clear()
            try:
                if self._hook_due:
                    self._hook_due = False
                    if self._hook is not None:
                        self._hook()
                self.pump.step()
            except Exception:
                # The sender must outlive a bad moment (a full disk, say): log and go on.
                log.exception("outbox sender step failed; retrying")
                self._stopping.wait(1.0)

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
        was = self._up.is_set()
        self._up.clear()
        self._wake.set()  # the pump sees the connection gone: what comes now is not live
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
        self._settlements.puback(mid, Puback.of(reason))
