"""An ingest worker: a persistent MQTT session feeding the decoder, and the writer thread."""

from __future__ import annotations

import logging
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from envgrid_cloud.ingest.batch import Batcher
from envgrid_cloud.ingest.dead import refused
from envgrid_cloud.ingest.decode import Decoder
from envgrid_cloud.ingest.heartbeat import Heartbeat
from envgrid_cloud.ingest.nodes import NodeCache
from envgrid_cloud.ingest.stats import IngestStats
from envgrid_cloud.ingest.store import BatchStore
from envgrid_cloud.ingest.writer import Writer
from envgrid_cloud.rules.engine import RuleEngine
from envgrid_cloud.settings import CloudSettings
from envgrid_common.mqtt import BrokerAddress, connect, new_client
from envgrid_common.topics import NodeChannel, shared

log = logging.getLogger("envgrid.ingest")

STATS_INTERVAL_S = 30.0
# How often a worker records its counters and the gateways' statuses in the database.
HEARTBEAT_INTERVAL_S = 5.0


class IngestWorker:
    """Stores what one MQTT session receives; :meth:`start` it, :meth:`stop` it to drain."""

    def __init__(
        self, settings: CloudSettings, index: int = 0, *, drain_timeout_s: float = 10.0
    ) -> None:
        self.client_id = f"{settings.ingest_client_id}-{index}"
        self._settings = settings
        self._topics = settings.topics
        self._address = BrokerAddress.parse(settings.mqtt_url)
        self._batcher = Batcher(settings.ingest_batch_max, settings.ingest_batch_interval_ms / 1000)
        judge = RuleEngine() if settings.rules_enabled else None
        self._store = BatchStore(
            settings.database_url, application_name=self.client_id, judge=judge
        )
        self._nodes = NodeCache(self._store.known_nodes)
        self._decoder = Decoder(self._topics, self._batcher, self._nodes)
        self._client = new_client(self.client_id, self._address, manual_ack=True, persistent=True)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_unsubscribe = self._on_unsubscribe
        self._client.on_message = self._on_message
        self._writer = Writer(
            self._batcher,
            self._store,
            self._nodes,
            self._topics,
            self._ack,
            drain_timeout_s=drain_timeout_s,
        )
        self._writer_thread = threading.Thread(
            target=self._writer.run, name=f"{self.client_id}-writer", daemon=True
        )
        self._heartbeat = Heartbeat(settings.database_url, self.client_id)
        self._heartbeat_stop = threading.Event()
        self._heartbeat_thread = threading.Thread(
            target=self._beat_until_stopped, name=f"{self.client_id}-heartbeat", daemon=True
        )
        self._subscribed = threading.Event()
        self._unsubscribed = threading.Event()
        self._stopping = False

    # Life cycle -------------------------------------------------------------------------------
    def start(self) -> IngestWorker:
        """Start the writer and connect (paho keeps retrying while the broker is away)."""
        self._writer_thread.start()
        self._heartbeat_thread.start()
        connect(
            self._client,
            self._address,
            persistent=True,
            session_expiry_s=self._settings.session_expiry_s,
            receive_maximum=self._settings.ingest_receive_maximum,
        )
        self._client.loop_start()
        return self

    def stop(self) -> None:
        """Commit and ack what was received, then disconnect; the session stays on the broker."""
        self._stopping = True
        self._writer.stop()
        self._writer_thread.join()
        self._heartbeat_stop.set()
        self._heartbeat_thread.join()
        self._beat()
        self._heartbeat.close()
        self._confirm_acks()
        self._client.disconnect()
        self._client.loop_stop()

    def _confirm_acks(self, timeout_s: float = 5.0) -> None:
        """Wait until the broker has read our last PUBACKs, before the socket closes."""
        # The broker keeps sending while we close, and closing a socket with unread data resets
        # the connection, which can discard PUBACKs the broker had not read yet. It answers an
        # UNSUBSCRIBE (of a filter we never use) only after reading everything sent before it.
        rc, _ = self._client.unsubscribe(f"{self._topics.base}/.ingest-drain")
        if rc == mqtt.MQTT_ERR_SUCCESS and not self._unsubscribed.wait(timeout_s):
            log.warning("%s: the broker did not confirm the last acks", self.client_id)

    def _beat(self) -> None:
        for mid in self._heartbeat.beat(self.stats):
            self._ack(mid)

    def _beat_until_stopped(self) -> None:
        while not self._heartbeat_stop.wait(HEARTBEAT_INTERVAL_S):
            self._beat()

    def wait_subscribed(self, timeout: float | None = None) -> bool:
        """Block until the broker holds this worker's subscriptions."""
        return self._subscribed.wait(timeout)

    @property
    def alive(self) -> bool:
        """Whether the writer thread is still running."""
        return self._writer_thread.is_alive()

    @property
    def stats(self) -> IngestStats:
        """A snapshot of the counters."""
        pending = (self._writer.inflight_started, self._batcher.oldest_started())
        starts = [t for t in pending if t is not None]
        written = self._writer.written
        return IngestStats(
            received=self._batcher.received,
            stored=written.stored,
            duplicates=written.duplicates,
            dead_lettered=written.dead_lettered,
            statuses=written.statuses,
            batches=self._writer.batches,
            last_commit_at=self._writer.last_commit_at,
            lag_s=time.monotonic() - min(starts) if starts else 0.0,
        )

    def __enter__(self) -> IngestWorker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # paho callbacks (network thread) ----------------------------------------------------------
    def _filters(self) -> list[str]:
        topics, group = self._topics, self._settings.ingest_share_group
        dealt = [
            topics.any_node(NodeChannel.READINGS),
            topics.any_node(NodeChannel.DETECTIONS),
            topics.any_dead_letter(),
        ]
        if group:
            dealt = [shared(group, f) for f in dealt]
        # Statuses are subscribed plainly by every worker: brokers hold retained messages back
        # from shared subscriptions (MQTT 5, 4.8.2), and applying a status twice is harmless.
        # Gateway statuses are retained too, and every worker keeps the newest.
        return [*dealt, topics.any_node(NodeChannel.STATUS), topics.any_gateway_status()]

    def _subscribe(self, client: mqtt.Client) -> None:
        if self._address.v5:
            # Retain handling 1: an existing subscription does not get the retained copies again.
            options = SubscribeOptions(qos=1, retainHandling=1)
            client.subscribe([(f, options) for f in self._filters()])
        else:
            client.subscribe([(f, 1) for f in self._filters()])

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: object,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        _properties: object,
    ) -> None:
        if reason.is_failure:
            log.warning(
                "%s: broker %s refused the connection: %s", self.client_id, self._address, reason
            )
            return
        self._batcher.new_connection()
        resumed = "resumed its" if flags.session_present else "new"
        log.info("%s: %s session on %s", self.client_id, resumed, self._address)
        # Subscribe even on a resumed session: Mosquitto 2.0 restores sessions from its
        # persistence file without their shared subscriptions, and would send us nothing.
        self._subscribe(client)

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        _properties: object,
    ) -> None:
        self._batcher.new_connection()
        if not self._stopping:
            log.warning("%s: lost the broker (%s); reconnecting", self.client_id, reason)

    def _on_subscribe(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _mid: int,
        reasons: list[ReasonCode],
        _properties: object,
    ) -> None:
        refused_filters = [
            f for f, r in zip(self._filters(), reasons, strict=False) if r.is_failure
        ]
        if refused_filters:
            log.error("%s: broker refused subscriptions %s", self.client_id, refused_filters)
        self._subscribed.set()

    def _on_unsubscribe(self, *_: object) -> None:
        self._unsubscribed.set()

    def _on_message(
        self, _client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage
    ) -> None:
        mid = message.mid if message.qos else None
        payload = message.payload
        if not isinstance(payload, bytes):
            payload = bytes(payload)  # paho's type allows a bytearray
        try:
            gateway_id = self._topics.parse_gateway_status(message.topic)
            if gateway_id is not None:
                self._gateway_status(gateway_id, message.topic, payload, mid)
                return
            self._decoder.handle(message.topic, payload, mid)
        except Exception as error:
            # An exception here would end paho's network thread; keep the message instead.
            log.exception("%s: could not decode a message", self.client_id)
            try:
                topic = message.topic
            except UnicodeDecodeError:
                topic = "(topic is not UTF-8)"
            reason = f"ingest error: {type(error).__name__}: {error}"
            self._batcher.add_dead_letter(mid, refused(topic, payload, reason))

    def _gateway_status(self, gateway_id: str, topic: str, payload: bytes, mid: int | None) -> None:
        if not payload:  # a cleared retained status: nothing to record
            if mid is not None:
                self._ack(mid)
            return
        reason = self._heartbeat.gateway_status(gateway_id, payload, mid)
        if reason is not None:
            self._batcher.add_dead_letter(mid, refused(topic, payload, reason))

    def _ack(self, mid: int) -> None:
        self._client.ack(mid, 1)


def run_worker(settings: CloudSettings, index: int, stop: threading.Event) -> None:
    """Run ingest worker ``index`` until ``stop`` is set, then drain and disconnect."""
    worker = IngestWorker(settings, index).start()
    log.info(
        "%s: ingesting %s into the database (batches of ≤%d rows, ≤%d ms)",
        worker.client_id,
        settings.topics.base,
        settings.ingest_batch_max,
        settings.ingest_batch_interval_ms,
    )
    next_log = time.monotonic() + STATS_INTERVAL_S
    try:
        while not stop.wait(1.0):
            if not worker.alive:
                raise RuntimeError(f"{worker.client_id}: the writer thread ended unexpectedly")
            if time.monotonic() >= next_log:
                next_log += STATS_INTERVAL_S
                log.info("%s: %s", worker.client_id, worker.stats)
    finally:
        worker.stop()
        log.info("%s stopped: %s", worker.client_id, worker.stats)
