"""An ingest worker: a persistent MQTT session on a network loop, the decoder, and the writer.

The network loop's thread receives and decodes; the writer thread commits; acknowledgements
go back to the loop's thread. The loop stops reading once the worker holds a Receive Maximum
of unacknowledged messages, whatever the broker sends (Mosquitto 2.0 hands a subscriber its
whole queue once acknowledgements flow), and keeps the connection alive meanwhile by its own
keepalive rule (:mod:`envgrid_common.netloop.keepalive`). A watchdog reports a worker that holds
messages and commits nothing, and ends one that is stuck.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import UTC, datetime
from functools import partial

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from envgrid_cloud.ingest.batch import Batch, Batcher
from envgrid_cloud.ingest.dead import refused
from envgrid_cloud.ingest.decode import Decoder
from envgrid_cloud.ingest.feed_clock import (
    REPORT_INTERVAL_S,
    BarrierFollower,
    FeedGate,
    TickReports,
    worker_ids,
)
from envgrid_cloud.ingest.heartbeat import AckToken, Heartbeat
from envgrid_cloud.ingest.nodes import NodeCache
from envgrid_cloud.ingest.stats import IngestStats, WorkerState
from envgrid_cloud.ingest.store import BatchStore, Judge
from envgrid_cloud.ingest.watchdog import HEALTHY, Progress, Verdict, Watchdog
from envgrid_cloud.ingest.writer import Writer
from envgrid_cloud.settings import CloudSettings
from envgrid_common.clock import FeedClock, encode_tick
from envgrid_common.mqtt import RECONNECT_MAX_S, BrokerAddress, connect
from envgrid_common.netloop import NetLoop, new_loop_client
from envgrid_common.topics import NodeChannel, shared

log = logging.getLogger("envgrid.ingest")

STATS_INTERVAL_S = 30.0
# How often a worker records its counters and the gateways' statuses in the database.
HEARTBEAT_INTERVAL_S = 5.0
# The loop also stops reading while it holds this many bytes of snapshots not yet committed
# (snapshots are megabytes where readings are bytes: a count alone would not bound memory).
HELD_SNAPSHOT_BYTES = 256 * 1024 * 1024
# Exit status of a worker that gave up (stuck): its supervisor starts a new one.
STUCK_EXIT_STATUS = 3
# Shares of the stop bound (ENVGRID_STOP_TIMEOUT_S) for each step of a stop: 0.6 in all, as
# the cloud's supervisor expects (envgrid_cloud.ingest_processes); the rest is its margin.
DRAIN_SHARE, RECORD_SHARE, CONFIRM_SHARE, CLOSE_SHARE, LOOP_SHARE = 0.35, 0.07, 0.07, 0.08, 0.03


class IngestWorker:
    """Stores what one MQTT session receives; :meth:`start` it, :meth:`stop` it to drain.

    ``judge`` (the rules, wired in by whoever builds the worker) judges what each batch
    stored, in the batch's transaction; without one, nothing is judged.
    """

    def __init__(
        self,
        settings: CloudSettings,
        index: int = 0,
        judge: Judge | None = None,
        feed_clock: FeedClock | None = None,
    ) -> None:
        self.client_id = f"{settings.ingest_client_id}-{index}"
        self._settings = settings
        self._topics = settings.topics
        self._address = BrokerAddress.parse(settings.mqtt_url)
        self._stop_s = settings.stop_timeout_s
        # On the feed's clock (ENVGRID_CLOCK=feed): ``feed_clock`` is what the store and the
        # rules read (the writer sets it to each batch's clock); the decoder has its own, moved
        # by the ticks as they arrive. See envgrid_cloud.ingest.feed_clock.
        self._gate: FeedGate | None = None
        self._reports: TickReports | None = None
        self._peers: BarrierFollower | None = None
        decoder_clock: FeedClock | None = None
        # Several workers share one node's readings: ordered, each commits what came after a
        # tick only once all have committed what came before it, so that the rules judge each
        # node's readings in the feed's order (one worker commits in that order anyway).
        ordered = settings.clock == "feed" and settings.ingest_workers > 1
        self._batcher = Batcher(
            settings.ingest_batch_max, settings.ingest_batch_interval_ms / 1000, ordered=ordered
        )
        if settings.clock == "feed":
            feed_clock = feed_clock or FeedClock()
            decoder_clock = FeedClock()
            self._gate = FeedGate(self._topics, self.client_id, decoder_clock)
            # Ordered, the other workers wait for each report: sent at once.
            self._reports = TickReports(self._report, 0.0 if ordered else REPORT_INTERVAL_S)
            if ordered:
                self._peers = BarrierFollower(
                    self._address,
                    self._topics,
                    worker_ids(settings),
                    f"{self.client_id}-peers",
                    lambda barrier, _last: self._batcher.open_to(barrier),
                )
        self._store = BatchStore(
            settings.database_url,
            application_name=self.client_id,
            judge=judge,
            **({"clock": feed_clock} if feed_clock is not None else {}),
        )
        self._nodes = NodeCache(self._store.known_nodes)
        self._decoder = Decoder(
            self._topics,
            self._batcher,
            self._nodes,
            decoder_clock,
            snapshot_max_bytes=settings.snapshot_max_bytes,
        )
        self._loop = NetLoop(f"{self.client_id}-net", max_delay_s=RECONNECT_MAX_S)
        self._client = new_loop_client(
            self.client_id, self._address, manual_ack=True, persistent=True
        )
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_unsubscribe = self._on_unsubscribe
        self._client.on_message = self._on_message
        self._writer = Writer(
            self._batcher,
            self._store,
            self._nodes,
            self._settle,
            drain_timeout_s=DRAIN_SHARE * self._stop_s,
            feed_clock=feed_clock,
        )
        self._writer_thread = threading.Thread(
            target=self._writer.run, name=f"{self.client_id}-writer", daemon=True
        )
        self._watchdog = Watchdog(settings.ingest_stall_s, settings.ingest_stuck_exit_s)
        self._verdict = HEALTHY
        self._heartbeat = Heartbeat(settings.database_url, self.client_id)
        self._heartbeat_stop = threading.Event()
        self._heartbeat_now = threading.Event()
        self._heartbeat_thread = threading.Thread(
            target=self._beat_until_stopped, name=f"{self.client_id}-heartbeat", daemon=True
        )
        self._subscribed = threading.Event()
        self._unsubscribed = threading.Event()
        self._stopping = False
        self._stopped = False
        self._connects = 0
        self._last_received_at: datetime | None = None

    # Life cycle -------------------------------------------------------------------------------
    def start(self) -> IngestWorker:
        """Start the writer and connect (the loop keeps retrying while the broker is away)."""
        if self._peers is not None:
            self._peers.start()
        self._writer_thread.start()
        self._heartbeat_thread.start()
        connect(
            self._client,
            self._address,
            persistent=True,
            session_expiry_s=self._settings.session_expiry_s,
            receive_maximum=self._settings.ingest_receive_maximum,
            keepalive=self._settings.ingest_keepalive_s,
        )
        self._loop.add(self._client, self._may_read)
        self._loop.start()
        return self

    def stop(self) -> None:
        """Commit and ack what was received, then disconnect, within the stop bound.

        The session stays on the broker: whatever is not acknowledged by then comes again.
        """
        self._stopping = True
        self._writer.stop()
        self._writer_thread.join(DRAIN_SHARE * self._stop_s + 0.2)
        if self._writer_thread.is_alive():
            log.error(
                "%s: a database write did not finish in time; its messages come again",
                self.client_id,
            )
        self._stopped = True
        self._heartbeat_stop.set()
        self._heartbeat_now.set()
        self._heartbeat_thread.join(RECORD_SHARE * self._stop_s)
        if self._client.is_connected():
            self._confirm_acks(CONFIRM_SHARE * self._stop_s)
        if not self._loop.disconnect(self._client, CLOSE_SHARE * self._stop_s):
            log.warning("%s: no clean disconnect in time", self.client_id)
        self._loop.stop(LOOP_SHARE * self._stop_s)
        if self._peers is not None:
            self._peers.stop()

    def _confirm_acks(self, timeout_s: float) -> None:
        """Wait until the broker has read our last PUBACKs, before the socket closes."""
        # The broker keeps sending while we close, and closing a socket with unread data resets
        # the connection, which can discard PUBACKs the broker had not read yet. It answers an
        # UNSUBSCRIBE (of a filter we never use) only after reading everything sent before it.
        drain_filter = f"{self._topics.base}/.ingest-drain"
        rc, _ = self._loop.call(lambda: self._client.unsubscribe(drain_filter), timeout_s)
        if rc == mqtt.MQTT_ERR_SUCCESS and not self._unsubscribed.wait(timeout_s):
            log.warning("%s: the broker did not confirm the last acks", self.client_id)

    def wait_subscribed(self, timeout: float | None = None) -> bool:
        """Block until the broker holds this worker's subscriptions."""
        return self._subscribed.wait(timeout)

    @property
    def alive(self) -> bool:
        """Whether the writer and network threads are still running."""
        return self._writer_thread.is_alive() and self._loop.running

    def check(self) -> Verdict:
        """Judge progress now; log a change, and record it at once."""
        verdict = self._watchdog.judge(self._progress())
        before, self._verdict = self._verdict, verdict
        if verdict.stalled and not before.stalled:
            log.warning("%s: stalled: %s", self.client_id, verdict.reason)
            self._heartbeat_now.set()
        elif before.stalled and not verdict.stalled:
            log.warning("%s: committing again", self.client_id)
            self._heartbeat_now.set()
        return verdict

    def _progress(self) -> Progress:
        writer = self._writer
        return Progress(
            now=time.monotonic(),
            held=self._batcher.held,
            oldest_held=self._batcher.oldest_started(),
            last_commit=writer.last_commit,
            write_started=writer.write_started,
            failing_since=writer.failing_since,
            last_error=writer.last_error,
        )

    @property
    def stats(self) -> IngestStats:
        """A snapshot of the counters and of the watchdog's verdict."""
        oldest = self._batcher.oldest_started()
        written = self._writer.written
        verdict = self._verdict
        state: WorkerState = (
            "stopped" if self._stopped else "stalled" if verdict.stalled else "running"
        )
        return IngestStats(
            received=self._batcher.received,
            stored=written.stored,
            duplicates=written.duplicates,
            dead_lettered=written.dead_lettered,
            statuses=written.statuses,
            batches=self._writer.batches,
            last_commit_at=self._writer.last_commit_at,
            lag_s=time.monotonic() - oldest if oldest is not None else 0.0,
            held=self._batcher.held,
            reconnects=max(0, self._connects - 1),
            last_received_at=self._last_received_at,
            state=state,
            reason=verdict.reason if verdict.stalled and not self._stopped else None,
        )

    def __enter__(self) -> IngestWorker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # Heartbeat thread -------------------------------------------------------------------------
    def _beat(self) -> None:
        for generation, mid in self._heartbeat.beat(self.stats):
            self._loop.submit(partial(self._ack_if_current, generation, mid))

    def _beat_until_stopped(self) -> None:
        try:
            while not self._heartbeat_stop.is_set():
                self._heartbeat_now.wait(HEARTBEAT_INTERVAL_S)
                self._heartbeat_now.clear()
                self._beat()
        finally:
            self._heartbeat.close()

    # Writer thread ----------------------------------------------------------------------------
    def _settle(self, batch: Batch) -> None:
        """Have a committed batch acknowledged, on the loop's thread (where connections change)."""
        self._loop.submit(partial(self._batcher.acknowledge, batch, self._ack))
        reports = self._reports
        if reports is not None and batch.tick_ns is not None:
            self._loop.submit(partial(reports.committed, batch.tick_ns, batch.last_tick))

    def _report(self, feed_ns: int, last: bool) -> None:
        """Say that everything this worker received before the tick at ``feed_ns`` is committed."""
        topic = self._topics.clock_ingested(self.client_id)
        self._client.publish(topic, encode_tick(feed_ns, last=last), qos=1)

    def remind(self) -> None:
        """Say the last report again, or the one the throttle kept back (a sweeper that came
        later, or lost a report, learns it then)."""
        if self._reports is not None:
            self._loop.submit(self._reports.flush)

    # The network loop's thread ----------------------------------------------------------------
    def _may_read(self) -> bool:
        # Stopping, the batcher takes nothing more (it comes again next time), and the answer
        # that confirms our last acks must be read.
        batcher = self._batcher
        return self._stopping or (
            batcher.held < self._settings.ingest_receive_maximum
            and batcher.held_bytes < HELD_SNAPSHOT_BYTES
        )

    def _ack(self, mid: int) -> None:
        self._client.ack(mid, 1)

    def _ack_if_current(self, generation: int, mid: int) -> None:
        if generation == self._batcher.generation:
            self._client.ack(mid, 1)

    def _filters(self) -> list[str]:
        topics, group = self._topics, self._settings.ingest_share_group
        dealt = [
            topics.any_node(NodeChannel.READINGS),
            topics.any_node(NodeChannel.DETECTIONS),
            topics.any_snapshot(),
            topics.any_dead_letter(),
        ]
        if group:
            dealt = [shared(group, f) for f in dealt]
        # Statuses are subscribed plainly by every worker: brokers hold retained messages back
        # from shared subscriptions (MQTT 5, 4.8.2), and applying a status twice is harmless.
        # Gateway statuses are retained too, and every worker keeps the newest.
        plain = [topics.any_node(NodeChannel.STATUS), topics.any_gateway_status()]
        if self._gate is not None:
            # Every worker hears every tick, after everything published before it.
            plain.append(topics.clock())
        return [*dealt, *plain]

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
        self._connects += 1
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
        gate = self._gate
        if gate is None:
            self._take(message)
            return
        gate.admit(message, self._batcher, self._take)

    def _take(self, message: mqtt.MQTTMessage) -> None:
        mid = message.mid if message.qos else None
        payload = message.payload
        if not isinstance(payload, bytes):
            payload = bytes(payload)  # paho's type allows a bytearray
        self._last_received_at = datetime.now(UTC)
        try:
            gateway_id = self._topics.parse_gateway_status(message.topic)
            if gateway_id is not None:
                self._gateway_status(gateway_id, message.topic, payload, mid)
                return
            self._decoder.handle(message.topic, payload, mid)
        except Exception as error:
            # An exception here would be lost in paho's callback handling; keep the message.
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
        token: AckToken | None = None if mid is None else (self._batcher.generation, mid)
        reason = self._heartbeat.gateway_status(gateway_id, payload, token)
        if reason is not None:
            self._batcher.add_dead_letter(mid, refused(topic, payload, reason))


def run_worker(
    settings: CloudSettings,
    index: int,
    stop: threading.Event,
    judge: Judge | None = None,
    feed_clock: FeedClock | None = None,
) -> None:
    """Run ingest worker ``index`` (judging by ``judge``) until ``stop``; then drain, disconnect.

    A worker its watchdog finds stuck (one database write running for
    ``ENVGRID_INGEST_STUCK_EXIT_S``) stops and exits with status 3 for its supervisor to
    start a fresh one; so does one whose threads died.
    """
    worker = IngestWorker(settings, index, judge, feed_clock).start()
    log.info(
        "%s: ingesting %s into the database (batches of ≤%d rows, ≤%d ms)",
        worker.client_id,
        settings.topics.base,
        settings.ingest_batch_max,
        settings.ingest_batch_interval_ms,
    )
    next_log = time.monotonic() + STATS_INTERVAL_S
    give_up: str | None = None
    try:
        while not stop.wait(1.0):
            if not worker.alive:
                give_up = "a thread of the worker ended unexpectedly"
                break
            worker.remind()
            verdict = worker.check()
            if verdict.give_up:
                give_up = f"stuck: {verdict.reason}"
                break
            if time.monotonic() >= next_log:
                next_log += STATS_INTERVAL_S
                log.info("%s: %s", worker.client_id, worker.stats)
    finally:
        worker.stop()
        log.info("%s stopped: %s", worker.client_id, worker.stats)
    if give_up is not None:
        log.error("%s: %s; exiting for a fresh start", worker.client_id, give_up)
        logging.shutdown()
        # Not sys.exit: a thread stuck in a database call must not hold the process up.
        os._exit(STUCK_EXIT_STATUS)
