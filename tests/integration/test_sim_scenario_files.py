"""Scenario files against a real Mosquitto: incidents on cue; a thousand nodes in scale mode."""

from __future__ import annotations

import asyncio
import itertools
import os
import statistics
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from envgrid_cli.services.mosquitto import MosquittoBroker
from envgrid_common.messages import NodeState, Reading
from envgrid_common.mqtt import BrokerAddress
from envgrid_common.topics import NodeChannel, Topics
from envgrid_common.validation import validate
from envgrid_sim.scenario import NodeSpec
from envgrid_sim.scenariofile.build import scenario_from_text
from envgrid_sim.scenariofile.generate import dump_scenario, generate_county
from envgrid_sim.swarm.seqs import SeqBook
from envgrid_sim.swarm.swarm import Swarm, SwarmOptions
from tests.integration.test_sim_township import Collector, poll

pytestmark = pytest.mark.timeout(90)

TIMELINE_FILE = """\
format: envgrid-scenario/1
name: cue
title: 试验镇
report_interval_s: 0.5
cells:
- {id: cc, level: county, name: 试验县}
- {id: ct, level: township, name: 试验镇, parent: cc}
sites:
- {id: farm, name: 试验养殖场, category: livestock_farm, cell: ct,
   nodes: [{profile: farm_effluent}]}
- {id: up, name: 上游断面, category: water_body, cell: ct, downstream: [down],
   nodes: [{profile: river}]}
- {id: down, name: 下游断面, category: water_body, cell: ct, nodes: [{profile: river}]}
- {id: road, name: 试验公路, category: road_section, cell: ct, nodes: [{profile: road_pm}]}
timeline:
- {kind: garbage, node: farm-effluent, at_s: 1, count: 6, every_s: 0}
- {kind: spike, node: farm-effluent, metric: cod, factor: 6, at_s: 5, for_s: 6, ramp_s: 0}
- {kind: river, site: up, metric: codmn, factor: 5, at_s: 4, for_s: 12, travel_s: 4, decay: 1}
- {kind: stuck, node: up-wq, metric: ph, at_s: 0, for_s: 60}
- {kind: dark, node: road-pm, at_s: 3, for_s: 4}
"""


@pytest.fixture
def collect(mqtt_url: str, topics: Topics) -> Iterator[Callable[..., Collector]]:
    """Collectors on the machine's broker; retained statuses cleared at the end."""
    made: list[Collector] = []

    def make(topic_filter: str | None = None) -> Collector:
        collector = Collector(mqtt_url, topic_filter or topics.all_nodes()).start()
        made.append(collector)
        return collector

    yield make
    for collector in made:
        retained = {t for t, p, _ in collector.snapshot() if t.endswith("/status") and p}
        client = collector.client
        if client is not None and client.is_connected():
            infos = [client.publish(t, b"", qos=1, retain=True) for t in retained]
            for info in infos:
                info.wait_for_publish(10)
        collector.stop()


def _readings(collector: Collector, topics: Topics) -> dict[str, list[Reading]]:
    out: dict[str, list[Reading]] = {}
    for topic, payload, _ in collector.snapshot():
        if topic.endswith("/readings"):
            try:
                message = validate(topics, topic, payload).message
            except ValueError:
                continue
            if isinstance(message, Reading):
                node = topic.split("/")[-2]
                out.setdefault(node, []).append(message)
    return out


def _first_above(readings: list[Reading], metric: str, level: float) -> datetime:
    return next(r.ts for r in readings if r.values[metric] > level)


def test_sim_run_plays_the_timeline_on_cue(
    mqtt_url: str, topics: Topics, tmp_path: Path, collect: Callable[..., Collector]
) -> None:
    path = tmp_path / "cue.yaml"
    path.write_text(TIMELINE_FILE, encoding="utf-8")
    collector = collect()
    env = {
        **os.environ,
        "ENVGRID_MQTT_URL": mqtt_url,
        "ENVGRID_TOPIC_ROOT": topics.root,
        "ENVGRID_SIM_CLIENT_ID_PREFIX": f"{topics.root.split('/')[0]}-",
    }
    command = [sys.executable, "-m", "envgrid_cli", "sim", "run", str(path)]
    command += ["--data-dir", str(tmp_path / "sim"), "--duration", "16"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    readings = _readings(collector, topics)
    online = [
        validate(topics, t, p).message
        for t, p, _ in collector.snapshot()
        if t.endswith("/status") and p and b'"online"' in p
    ]
    t0 = min(m.ts for m in online if m.ts is not None)  # type: ignore[union-attr]

    # The spike: COD ×6 from 5 s to 11 s after the start, not before.
    farm = readings["farm-effluent"]
    before = [r.values["cod"] for r in farm if r.ts < t0 + timedelta(seconds=4)]
    during = [
        r.values["cod"]
        for r in farm
        if t0 + timedelta(seconds=6) <= r.ts <= t0 + timedelta(seconds=10)
    ]
    assert before
    assert during
    assert min(during) > 3 * statistics.median(before)
    # The garbage: six payloads on the farm's topic that no reading parser accepts.
    bad = 0
    for topic, payload, _ in collector.snapshot():
        if topic == topics.readings("farm-effluent"):
            try:
                validate(topics, topic, payload)
            except ValueError:
                bad += 1
    assert bad == 6
    # The river: the upper section rises first, the lower one about 4 s later.
    up, down = readings["up-wq"], readings["down-wq"]
    base = statistics.median(r.values["codmn"] for r in up if r.ts < t0 + timedelta(seconds=3))
    rise_up = _first_above(up, "codmn", 2.5 * base)
    rise_down = _first_above(down, "codmn", 2.5 * base)
    assert timedelta(seconds=2.5) <= rise_down - rise_up <= timedelta(seconds=6)
    # The stuck analyser: one pH value throughout.
    assert len({r.values["ph"] for r in up}) == 1
    assert len({r.values["do"] for r in up}) > 1
    # The node gone dark: its Will (offline, no ts), then online again, and a gap in readings.
    road = [
        validate(topics, t, p).message
        for t, p, _ in collector.snapshot()
        if t == topics.status("road-pm") and p
    ]
    states = [(m.state, m.ts is None) for m in road]  # type: ignore[union-attr]
    assert states[:3] == [
        (NodeState.ONLINE, False),
        (NodeState.OFFLINE, True),
        (NodeState.ONLINE, False),
    ]
    stamps = [r.ts for r in readings["road-pm"]]
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert max(gaps) >= timedelta(seconds=3)


def _county_specs(nodes: int, interval_s: float) -> tuple[NodeSpec, ...]:
    text = dump_scenario(generate_county(1, nodes, seed=3, report_interval_s=interval_s))
    return scenario_from_text(text).specs[:nodes]


async def _swarm_until(swarm: Swarm, ready: Callable[[], bool], within: float) -> bool:
    stop = asyncio.Event()
    task = asyncio.create_task(swarm.run(stop))
    reached = await poll(lambda: ready() or task.done(), within)
    swarm.power_cut()
    stop.set()
    await asyncio.wait_for(task, 30)
    return reached and ready()


@pytest.mark.parametrize("connections", [0, 4])
def test_a_thousand_nodes_deliver_readings_in_scale_mode_each_with_its_will(
    connections: int,
    mqtt_url: str,
    topics: Topics,
    tmp_path: Path,
    collect: Callable[..., Collector],
) -> None:
    nodes = 1000
    specs = _county_specs(nodes, 2.0)
    assert len(specs) == nodes
    collector = collect()
    options = SwarmOptions(
        address=BrokerAddress.parse(mqtt_url),
        topics=topics,
        client_id_prefix=f"{uuid.uuid4().hex[:6]}-",
        connections=connections,
    )
    seqs = SeqBook(tmp_path / "outbox.sqlite")
    seqs.open(s.node.id for s in specs)
    swarm = Swarm(specs, options, seqs)
    swarm.check_limits()

    def all_reported() -> bool:
        return len(_readings(collector, topics)) == nodes

    try:
        assert asyncio.run(_swarm_until(swarm, all_reported, 40)), (
            f"{len(_readings(collector, topics))} of {nodes} nodes reported"
        )
    finally:
        seqs.close()
    assert swarm.counters.refused == 0
    for node, got in _readings(collector, topics).items():
        assert [r.seq for r in got] == list(range(1, len(got) + 1)), node

    def wills(seen: Collector) -> set[str]:
        return {
            t.split("/")[-2]
            for t, p, _ in seen.snapshot()
            if t.endswith("/status") and b'"offline"' in p and b'"ts"' not in p
        }

    if connections == 0:
        # The power cut dropped every session without DISCONNECT: the broker sent each Will
        # and keeps it as the node's retained status. Read back from a fresh subscription: the
        # stock broker may drop part of a burst of 1,000 Wills to a subscriber that lags.
        statuses = collect(topics.any_node(NodeChannel.STATUS))
        assert asyncio.run(poll(lambda: len(wills(statuses)) == nodes, 20)), len(wills(statuses))
    else:
        # Shared connections carry no Will of a node (liveness comes from the readings).
        assert wills(collector) == set()


def test_scale_mode_holds_readings_while_the_broker_is_away_and_sends_them_after(
    own_broker: MosquittoBroker, topics: Topics, tmp_path: Path
) -> None:
    specs = _county_specs(20, 0.3)
    options = SwarmOptions(
        address=BrokerAddress.parse(own_broker.url),
        topics=topics,
        reconnect_max_s=0.5,
        jitter_s=0.0,
    )
    seqs = SeqBook(tmp_path / "outbox.sqlite")
    seqs.open(s.node.id for s in specs)
    swarm = Swarm(specs, options, seqs)

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(swarm.run(stop))
        assert await poll(lambda: swarm.counters.acked >= 40, 15)
        own_broker.stop()
        assert await poll(lambda: swarm.counters.held >= 40, 15)  # kept while it is away
        own_broker.start()
        # Back: everything held goes out, and nothing is left waiting.
        assert await poll(
            lambda: (
                swarm.connected == len(swarm.sessions)
                and all(not n.backlog for n in swarm.nodes.values())
                and swarm.counters.acked >= swarm.counters.produced - len(specs)
            ),
            20,
        )
        stop.set()
        await asyncio.wait_for(task, 15)

    try:
        asyncio.run(scenario())
    finally:
        seqs.close()
    assert swarm.counters.dropped == 0
    assert swarm.counters.refused == 0
