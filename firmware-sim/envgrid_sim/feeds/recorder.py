"""Recording what crosses a broker into feed files.

Messages are taken on the network thread, gathered into the current block and acknowledged
(QoS 1 PUBACK) only once their block is in the file: with a persistent session, whatever a
killed recorder had not written yet is delivered again to the next one.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from envgrid_common.mqtt import MAX_RECEIVE_MAXIMUM, BrokerAddress, connect
from envgrid_common.netloop import NetLoop, new_loop_client
from envgrid_common.netloop.client import NO_PUBLISH_PROPERTIES
from envgrid_sim.feeds.format import pack_properties
from envgrid_sim.feeds.writer import RotatingFeed

log = logging.getLogger("envgrid.sim.record")


@dataclass(frozen=True, slots=True)
class RecordOptions:
    """What to subscribe to and how."""

    filters: tuple[str, ...]
    qos: int = 1
    persistent: bool = False  # keep the session (and what arrives meanwhile) across restarts
    session_expiry_s: int = 3600
    client_id: str = ""


class Recorder:
    """Subscribes to ``options.filters`` and writes every message to ``feed``.

    Call :meth:`flush` regularly (the records gathered since become safe and are
    acknowledged); :meth:`stop` writes the rest, acknowledges it and disconnects.
    """

    def __init__(
        self,
        address: BrokerAddress,
        feed: RotatingFeed,
        options: RecordOptions,
        *,
        now_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self._address = address
        self._feed = feed
        self._options = options
        self._now_ns = now_ns
        self.client_id = options.client_id or f"envgrid-record-{uuid.uuid4().hex[:8]}"
        self._loop = NetLoop("envgrid-record")
        self._client = new_loop_client(
            self.client_id, address, manual_ack=True, persistent=options.persistent
        )
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._unacked: list[int] = []  # QoS 1 message ids of records not yet in the file
        self.received = 0
        self.payload_bytes = 0
        self.subscribed = threading.Event()
        self.failed = threading.Event()  # the feed cannot be written: stop
        self.failure: str | None = None

    def start(self, timeout_s: float = 10.0) -> None:
        """Connect and subscribe; raise ConnectionError if that does not happen in time."""
        options = self._options
        connect(
            self._client,
            self._address,
            persistent=options.persistent,
            session_expiry_s=options.session_expiry_s,
            receive_maximum=MAX_RECEIVE_MAXIMUM,
        )
        self._loop.add(self._client)
        self._loop.start()
        if not self.subscribed.wait(timeout_s) or self.failure:
            self._loop.stop()
            why = self.failure or f"not connected and subscribed in {timeout_s:g} s"
            raise ConnectionError(f"broker {self._address}: {why}")

    def flush(self) -> None:
        """Write the gathered records as a block, acknowledge them, rotate if due."""
        self._loop.call(self._flush)

    def stop(self) -> None:
        """Write and acknowledge what is gathered, disconnect, close the file."""
        if self._loop.running:
            self._loop.call(self._flush)
            if not self._loop.disconnect(self._client, 5.0):
                log.warning("record: no clean disconnect from %s", self._address)
            self._loop.stop()
        self._feed.close()

    # The network thread ------------------------------------------------------------------------
    def _flush(self) -> None:
        try:
            if self._feed.flush():
                self._ack()
        except OSError as error:
            self._fail(f"cannot write the feed: {error}")

    def _fail(self, why: str) -> None:
        if self.failure is None:
            log.error("record: %s", why)
            self.failure = why
        self.failed.set()

    def _ack(self) -> None:
        client = self._client
        for mid in self._unacked:
            client.ack(mid, 1)
        self._unacked.clear()

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        properties = message.properties
        packed = b"" if properties is NO_PUBLISH_PROPERTIES else pack_properties(properties)
        payload = bytes(message.payload)  # paho's type allows a bytearray; it gives bytes
        qos = message.qos
        if qos:
            self._unacked.append(message.mid)
        self.received += 1
        self.payload_bytes += len(payload)
        try:
            if self._feed.add(
                self._now_ns(), message.topic.encode(), qos, message.retain, packed, payload
            ):
                self._ack()
        except OSError as error:  # disk full, say: stop rather than take what cannot be kept
            self._fail(f"cannot write the feed: {error}")

    def _on_connect(
        self, client: mqtt.Client, _userdata: Any, flags: Any, reason: ReasonCode, _props: Any
    ) -> None:
        if reason.is_failure:
            self.failure = f"refused the connection: {reason}"
            self.subscribed.set()
            return
        # Messages gathered before a lost connection are acknowledged on a connection that no
        # longer exists: the broker sends them again (persistent session), so they are kept.
        self._unacked.clear()
        options = self._options
        if self._address.v5:
            sub = SubscribeOptions(qos=options.qos, retainAsPublished=True)
            client.subscribe([(f, sub) for f in options.filters])
        else:
            client.subscribe([(f, options.qos) for f in options.filters])
        log.info(
            "record: connected to %s (session present: %s)",
            self._address,
            getattr(flags, "session_present", False),
        )

    def _on_subscribe(
        self,
        _client: mqtt.Client,
        _userdata: Any,
        _mid: int,
        codes: Sequence[ReasonCode],
        _props: Any,
    ) -> None:
        refused = [
            f"{f}: {c}" for f, c in zip(self._options.filters, codes, strict=False) if c.is_failure
        ]
        if refused:
            self.failure = "refused the subscription " + "; ".join(refused)
        self.subscribed.set()
