"""A simulated township against a real Mosquitto: readings, liveness, restarts, crashes."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from envgrid_cli.services.mosquitto import MosquittoBroker
from envgrid_common.messages import NodeState, NodeStatus, Reading
from envgrid_common.mqtt import BrokerAddress, new_client
from envgrid_common.outbox import Outbox
from envgrid_common.sequence import seq_counter
from envgrid_common.topics import NodeChannel, Topics
from envgrid_common.validation import validate
from envgrid_sim.scenario import Scenario
from envgrid_sim.scenarios.luxi import luxi_scenario
from envgrid_sim.settings import SimSettings
from envgrid_sim.township import OUTBOX_FILE, Township
from tests.polling import wait_until

pytestmark = pytest.mark.timeout(60)

INTERVAL = 0.2


@dataclass
class Collector:
    """A paho subscriber that keeps every message it gets, retained flag included."""

    url: str
    topic_filter: str
    messages: list[tuple[str, bytes, bool]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    subscribed: threading.Event = field(default_factory=threading.Event)
    client: mqtt.Client | None = None

    def start(self) -> Collector:
        """Connect, subscribe (again after every reconnect) and wait for the SUBACK."""
        address = BrokerAddress.parse(self.url)
        client = new_client(f"t-collector-{uuid.uuid4().hex[:8]}", address)
        client.on_connect = lambda c, *_: c.subscribe(self.topic_filter, qos=1)
        client.on_subscribe = lambda *_: self.subscribed.set()
        client.on_message = self._on_message
        client.connect(address.host, address.port, keepalive=10)
        client.loop_start()
        self.client = client
        assert self.subscribed.wait(10), "collector never subscribed"
        return self

    def _on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        with self.lock:
            self.messages.append((message.topic, bytes(message.payload), bool(message.retain)))

    def stop(self) -> None:
        """Disconnect."""
        if self.client is not None:
            self.client.disconnect()
            self.client.loop_stop()

    def snapshot(self) -> list[tuple[str, bytes, bool]]:
        """What has arrived so far."""
        with self.lock:
            return list(self.messages)

    def readings(self, topics: Topics) -> dict[str, list[Reading]]:
        """Readings per node, each validated against the contract, in arrival order."""
        out: dict[str, list[Reading]] = defaultdict(list)
        for topic, payload, _ in self.snapshot():
            accepted = validate(topics, topic, payload)
            if accepted.topic.channel is NodeChannel.READINGS:
                assert isinstance(accepted.message, Reading)
                out[accepted.topic.node_id].append(accepted.message)
        return out

    def statuses(self, topics: Topics) -> dict[str, list[tuple[NodeStatus, bool]]]:
        """Status messages per node with their retained flag."""
        out: dict[str, list[tuple[NodeStatus, bool]]] = defaultdict(list)
        for topic, payload, retained in self.snapshot():
            if not payload:
                continue  # a cleared retained message
            accepted = validate(topics, topic, payload)
            if accepted.topic.channel is NodeChannel.STATUS:
                assert isinstance(accepted.message, NodeStatus)
                out[accepted.topic.node_id].append((accepted.message, retained))
        return out


async def poll(condition: Callable[[], bool], within: float) -> bool:
    """Whether ``condition`` became true within ``within`` seconds (checked every 50 ms)."""
    deadline = time.monotonic() + within
    # Polling, not an Event: the condition is fed by paho's network thread.
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def run_until(township: Township, condition: Callable[[], bool], within: float) -> None:
    """Run ``township`` until ``condition`` holds (or time is up), then stop it gracefully."""
    stop = asyncio.Event()
    task = asyncio.create_task(township.run(stop))
    await poll(lambda: condition() or task.done(), within)
    stop.set()
    await asyncio.wait_for(task, timeout=15)


@pytest.fixture
def collectors(mqtt_url: str, topics: Topics) -> Iterator[Callable[[str], Collector]]:
    """Make collectors on the test's broker; stop them and clear retained status at the end."""
    made: list[Collector] = []

    def make(url: str = mqtt_url) -> Collector:
        collector = Collector(url, topics.all_nodes()).start()
        made.append(collector)
        return collector

    yield make
    for collector in made:
        retained = {t for t, p, _ in collector.snapshot() if t.endswith("/status") and p}
        if retained and collector.client is not None and collector.client.is_connected():
            for topic in retained:
                collector.client.publish(topic, b"", qos=1, retain=True).wait_for_publish(5)
        collector.stop()


def sim_settings(
    url: str, topics: Topics, data_dir: Path, *, reconnect_max_s: float = 30.0
) -> SimSettings:
    """Settings for a fast township of this test's own (client ids too: brokers are shared)."""
    return SimSettings(
        mqtt_url=url,
        topic_root=topics.root,
        sim_data_dir=data_dir,
        sim_report_interval_s=INTERVAL,
        sim_client_id_prefix=f"{topics.root.split('/')[0]}-",
        sim_progress_interval_s=1.0,
        sim_reconnect_max_s=reconnect_max_s,
    )


def small(count: int = 5) -> Scenario:
    """A few nodes of every kind, reporting fast."""
    return luxi_scenario(INTERVAL).limited(count)


def enough(collector: Collector, topics: Topics, nodes: int, each: int) -> Callable[[], bool]:
    """Whether ``nodes`` nodes have sent at least ``each`` readings."""

    def check() -> bool:
        got = collector.readings(topics)
        return len(got) >= nodes and all(len(r) >= each for r in got.values())

    return check


def assert_gapless(readings: dict[str, list[Reading]], first: int = 1) -> None:
    """Each node's seq runs first, first+1, … in arrival order."""
    for node_id, items in readings.items():
        seqs = [r.seq for r in items]
        assert seqs == list(range(first, first + len(seqs))), f"{node_id}: {seqs}"


def test_township_publishes_valid_readings_and_retained_status(
    mqtt_url: str, topics: Topics, tmp_path: Path, collectors: Callable[..., Collector]
) -> None:
    scenario = small(5)
    collector = collectors()
    township = Township(sim_settings(mqtt_url, topics, tmp_path), scenario)
    late: list[Collector] = []

    async def scenario_run() -> None:
        def ready() -> bool:
            if not late and enough(collector, topics, 5, 3)():
                late.append(collectors())  # subscribes now: sees only what is retained
            return bool(late) and enough(collector, topics, 5, 6)()

        await run_until(township, ready, within=15)

    asyncio.run(scenario_run())
    readings = collector.readings(topics)
    assert set(readings) == {s.node.id for s in scenario.specs}
    assert_gapless(readings)
    for spec in scenario.specs:
        assert set(readings[spec.node.id][0].values) == set(spec.profile.metrics)
        assert all(r.ts.utcoffset() is not None for r in readings[spec.node.id])
    # A late subscriber got the retained online status of every node.
    retained_online = {
        node
        for node, items in late[0].statuses(topics).items()
        if any(s.state is NodeState.ONLINE and retained for s, retained in items)
    }
    assert retained_online == set(readings)
    # A graceful stop says offline, with the time, and leaves that retained.
    for node, items in collector.statuses(topics).items():
        assert [s.state for s, _ in items] == [NodeState.ONLINE, NodeState.OFFLINE], node
        assert items[-1][0].ts is not None
    assert township.sent == sum(len(r) for r in readings.values())
    assert township.failed == 0


def test_restart_continues_the_sequence(
    mqtt_url: str, topics: Topics, tmp_path: Path, collectors: Callable[..., Collector]
) -> None:
    collector = collectors()
    settings = sim_settings(mqtt_url, topics, tmp_path)
    asyncio.run(run_until(Township(settings, small(3)), enough(collector, topics, 3, 4), 15))
    first = collector.readings(topics)
    last = {node: items[-1].seq for node, items in first.items()}
    done = {node: len(items) for node, items in first.items()}

    def more() -> bool:
        got = collector.readings(topics)
        return all(len(got[node]) >= done[node] + 3 for node in done)

    asyncio.run(run_until(Township(settings, small(3)), more, 15))
    readings = collector.readings(topics)
    assert_gapless(readings)  # one unbroken run of numbers across the restart
    assert all(readings[node][done[node]].seq == last[node] + 1 for node in done)


def test_power_cut_delivers_the_offline_will(
    mqtt_url: str, topics: Topics, tmp_path: Path, collectors: Callable[..., Collector]
) -> None:
    collector = collectors()
    township = Township(sim_settings(mqtt_url, topics, tmp_path), small(4))

    def offline_wills() -> set[str]:
        return {
            node
            for node, items in collector.statuses(topics).items()
            if items and items[-1][0].state is NodeState.OFFLINE and items[-1][0].ts is None
        }

    async def cut() -> None:
        task = asyncio.create_task(township.run(asyncio.Event()))
        assert await poll(enough(collector, topics, 4, 2), 15), "no readings before the cut"
        township.power_cut()
        await asyncio.wait_for(task, timeout=10)  # nodes stop without being asked

    asyncio.run(asyncio.wait_for(cut(), timeout=20))
    # The Will, not a goodbye: offline without a ts, from the broker.
    wait_until(lambda: len(offline_wills()) == 4, 10, "the Last Will of every node")
    late = collectors()
    wait_until(lambda: len(late.statuses(topics)) == 4, 5, "retained status")
    for node, items in late.statuses(topics).items():
        status, retained = items[-1]
        assert retained, node
        assert status.state is NodeState.OFFLINE, node
    # Power back on: the same township carries on counting where it was cut off.
    count = {node: len(items) for node, items in collector.readings(topics).items()}

    def more() -> bool:
        got = collector.readings(topics)
        return all(len(got[node]) >= count[node] + 2 for node in count)

    asyncio.run(run_until(township, more, 15))
    assert_gapless(collector.readings(topics))
    for items in late.statuses(topics).values():
        assert [s.state for s, _ in items][-2:] == [NodeState.ONLINE, NodeState.OFFLINE]


def _sim_process(url: str, topics: Topics, data_dir: Path, nodes: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "ENVGRID_MQTT_URL": url,
        "ENVGRID_TOPIC_ROOT": topics.root,
        "ENVGRID_SIM_CLIENT_ID_PREFIX": f"{topics.root.split('/')[0]}-",
    }
    command = [sys.executable, "-m", "envgrid_cli", "sim", "--nodes", str(nodes)]
    command += ["--interval", str(INTERVAL), "--data-dir", str(data_dir)]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_killed_process_leaves_wills_and_restart_never_repeats_seq(
    mqtt_url: str, topics: Topics, tmp_path: Path, collectors: Callable[..., Collector]
) -> None:
    collector = collectors()
    process = _sim_process(mqtt_url, topics, tmp_path, 3)
    try:
        wait_until(enough(collector, topics, 3, 5), 15, "readings from the sim process")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(10)
    wait_until(
        lambda: (
            sum(
                items[-1][0].state is NodeState.OFFLINE
                for items in collector.statuses(topics).values()
            )
            == 3
        ),
        10,
        "offline Wills after SIGKILL",
    )
    before = {node: max(r.seq for r in items) for node, items in collector.readings(topics).items()}
    count = {node: len(items) for node, items in collector.readings(topics).items()}

    process = _sim_process(mqtt_url, topics, tmp_path, 3)
    try:
        wait_until(
            lambda: all(len(collector.readings(topics)[node]) >= count[node] + 3 for node in count),
            15,
            "readings after the restart",
        )
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=15)
    assert process.returncode == 0, output.decode()
    for node, items in collector.readings(topics).items():
        after = [r.seq for r in items[count[node] :]]
        assert after == sorted(after), node
        assert min(after) >= before[node], f"{node} went back after the crash: {after}"
        # At least once: the reading in flight at the kill may come again, but only unchanged.
        seen: dict[int, Reading] = {}
        for reading in items:
            assert seen.setdefault(reading.seq, reading) == reading, f"{node} reused seq"
        assert sorted(seen) == list(range(1, max(seen) + 1)), f"{node} has a gap"
    assert b"readings sent" in output
    assert b"luxi-farm-01-effluent" in output  # startup lines name each node
    with Outbox(tmp_path / OUTBOX_FILE) as outbox:
        assert len(outbox) == 0, "a graceful stop drains the outbox"
        assert all(
            outbox.counter(seq_counter(node)) == max(r.seq for r in items) + 1
            for node, items in collector.readings(topics).items()
        )


def test_nodes_reconnect_after_the_broker_restarts(
    own_broker: MosquittoBroker,
    topics: Topics,
    tmp_path: Path,
    collectors: Callable[..., Collector],
) -> None:
    collector = collectors(own_broker.url)
    settings = sim_settings(own_broker.url, topics, tmp_path, reconnect_max_s=0.5)
    township = Township(settings, small(3))
    marks: dict[str, int] = {}

    def condition() -> bool:
        got = collector.readings(topics)
        if not marks:
            if len(got) == 3 and all(len(r) >= 3 for r in got.values()):
                marks.update({n: len(r) for n, r in got.items()})
                own_broker.kill()
                own_broker.start()
            return False
        return all(len(got[n]) >= marks[n] + 3 for n in marks)

    asyncio.run(run_until(township, condition, within=25))
    assert marks, "no readings before the broker restart"
    readings = collector.readings(topics)
    for node, items in readings.items():
        seqs = [r.seq for r in items]
        assert len(seqs) >= marks[node] + 3, f"{node} did not come back: {seqs}"
        # Onward only; a reading whose PUBACK was lost may arrive twice, never out of order.
        assert all(b >= a for a, b in itertools.pairwise(seqs)), f"{node}: {seqs}"
    online = collector.statuses(topics)
    assert all(sum(s.state is NodeState.ONLINE for s, _ in items) >= 2 for items in online.values())
