"""Simulated nodes through a broker outage: readings kept on disk, flushed historical, none lost."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from envgrid_cli.services.mosquitto import MosquittoBroker
from envgrid_common.messages import Reading
from envgrid_common.mqtt import BrokerAddress, connect, new_client
from envgrid_common.outbox import Outbox
from envgrid_common.sequence import seq_counter
from envgrid_common.topics import NodeChannel, Topics
from envgrid_common.validation import validate
from envgrid_sim.township import OUTBOX_FILE, Township
from tests.integration.test_sim_township import _sim_process, poll, sim_settings, small
from tests.polling import wait_until

pytestmark = pytest.mark.timeout(30)

OUTAGE_S = 3.0


class Subscriber:
    """A QoS 1 subscriber with a persistent session: what the broker queued for it arrives."""

    def __init__(self, url: str, topics: Topics) -> None:
        self.topics = topics
        self.address = BrokerAddress.parse(url)
        self.messages: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        client = new_client(f"t-sub-{uuid.uuid4().hex[:8]}", self.address, persistent=True)
        client.reconnect_delay_set(min_delay=1, max_delay=1)
        client.on_connect = self._on_connect
        client.on_subscribe = lambda *_: self.subscribed.set()
        client.on_message = self._on_message
        self.client = client

    def start(self) -> Subscriber:
        """Connect in the background and wait for the SUBACK."""
        connect(self.client, self.address, persistent=True, session_expiry_s=300, keepalive=5)
        self.client.loop_start()
        assert self.subscribed.wait(10), "subscriber never subscribed"
        return self

    def _on_connect(
        self, client: mqtt.Client, _u: object, flags: mqtt.ConnectFlags, *_: object
    ) -> None:
        if not flags.session_present:
            client.subscribe(self.topics.all_nodes(), qos=1)

    def _on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.messages.append((message.topic, bytes(message.payload)))

    def stop(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()

    def readings(self) -> dict[str, list[Reading]]:
        """Readings per node in arrival order."""
        with self.lock:
            messages = list(self.messages)
        out: dict[str, list[Reading]] = defaultdict(list)
        for topic, payload in messages:
            accepted = validate(self.topics, topic, payload)
            if accepted.topic.channel is NodeChannel.READINGS:
                assert isinstance(accepted.message, Reading)
                out[accepted.topic.node_id].append(accepted.message)
        return out


@pytest.fixture
def subscriber(own_broker: MosquittoBroker, topics: Topics) -> Iterator[Subscriber]:
    """A persistent-session subscriber on the test's own broker."""
    sub = Subscriber(own_broker.url, topics).start()
    yield sub
    sub.stop()


def live_again(sub: Subscriber, nodes: list[str], since: datetime) -> bool:
    """Whether every node sends live (not historical) readings measured after ``since``."""
    got = sub.readings()
    return all(sum(r.ts > since and not r.historical for r in got[n]) >= 2 for n in nodes)


def produced(data_dir: Path, nodes: list[str]) -> dict[str, int]:
    """Per node, the last seq the simulator produced (from its outbox on disk)."""
    with Outbox(data_dir / OUTBOX_FILE) as outbox:
        return {node: outbox.counter(seq_counter(node), 1) - 1 for node in nodes}


def received_all(sub: Subscriber, last: dict[str, int]) -> bool:
    """Whether every seq up to ``last`` of every node has arrived."""
    got = sub.readings()
    return all({r.seq for r in got.get(n, [])} >= set(range(1, s + 1)) for n, s in last.items())


def check(
    sub: Subscriber, last: dict[str, int], outage: tuple[datetime, datetime], label: str
) -> None:
    """Every seq arrived (at least once, identical if twice); the outage's ones historical."""
    got = sub.readings()
    arrivals = sum(len(items) for items in got.values())
    copies = Counter((node, r.seq) for node, items in got.items() for r in items)
    duplicates = sum(n - 1 for n in copies.values())
    sent = sum(last.values())
    print(f"\n{label}: sent {sent}, received {arrivals}, duplicates {duplicates}")
    # The broker takes a moment to go: count only what was surely measured while it was away.
    start, end = outage[0] + timedelta(seconds=0.5), outage[1]
    during: list[Reading] = []
    for node, top in last.items():
        first: dict[int, Reading] = {}
        for reading in got[node]:
            assert first.setdefault(reading.seq, reading) == reading, f"{node}: seq reused"
        missing = set(range(1, top + 1)) - set(first)
        assert not missing, f"{node} lost {sorted(missing)}"
        during += [r for r in first.values() if start < r.ts < end]
        assert not first[top].historical, f"{node}: live again once the backlog is gone"
    # Produced while the broker was away: measurement time kept, sent late, marked.
    assert len(during) >= len(last) * 5, f"too few readings in the outage: {len(during)}"
    assert all(r.historical for r in during), [r.seq for r in during if not r.historical]


def test_broker_outage_keeps_readings_and_flushes_them_historical(
    own_broker: MosquittoBroker, subscriber: Subscriber, topics: Topics, tmp_path: Path
) -> None:
    settings = sim_settings(own_broker.url, topics, tmp_path, reconnect_max_s=0.5)
    township = Township(settings, small(3))
    nodes = list(township.nodes)
    outage: list[datetime] = []

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(township.run(stop))
        assert await poll(lambda: all(len(subscriber.readings()[n]) >= 3 for n in nodes), 10)
        outage.append(datetime.now().astimezone())
        own_broker.stop()
        await asyncio.sleep(OUTAGE_S)  # the township keeps measuring meanwhile
        outage.append(datetime.now().astimezone())
        own_broker.start()
        assert await poll(lambda: live_again(subscriber, nodes, outage[1]), 15), "no flush"
        stop.set()
        await asyncio.wait_for(task, 10)

    asyncio.run(scenario())
    last = produced(tmp_path, nodes)
    wait_until(lambda: received_all(subscriber, last), 10, "every seq of every node")
    check(subscriber, last, (outage[0], outage[1]), "sim through a broker outage")


def test_sim_killed_during_an_outage_sends_its_backlog_after_restart(
    own_broker: MosquittoBroker, subscriber: Subscriber, topics: Topics, tmp_path: Path
) -> None:
    nodes = [spec.node.id for spec in small(3).specs]
    process = _sim_process(own_broker.url, topics, tmp_path, 3)
    try:
        wait_until(
            lambda: all(len(subscriber.readings()[n]) >= 3 for n in nodes), 15, "first readings"
        )
        start = datetime.now().astimezone()
        own_broker.stop()
        time.sleep(OUTAGE_S / 2)
        process.send_signal(signal.SIGKILL)  # with a backlog on disk
        process.wait(10)
        process = _sim_process(own_broker.url, topics, tmp_path, 3)
        time.sleep(OUTAGE_S / 2 + 1.0)  # it starts, and measures into the same outbox
        end = datetime.now().astimezone()
        own_broker.start()
        wait_until(lambda: live_again(subscriber, nodes, end), 20, "backlog, then live readings")
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=15)
    assert process.returncode == 0, output.decode()
    last = produced(tmp_path, nodes)
    wait_until(lambda: received_all(subscriber, last), 10, "every seq of every node")
    check(subscriber, last, (start, end), "sim killed during a broker outage")
