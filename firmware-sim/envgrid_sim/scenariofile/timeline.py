"""A scenario's timeline on cue: signal incidents, nodes going dark, garbage, burns."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import aiomqtt

from envgrid_common.mqtt import BrokerAddress
from envgrid_common.signals import Incident
from envgrid_common.topics import Topics
from envgrid_sim.camera.fleet import BurnIncident
from envgrid_sim.scenario import Scenario
from envgrid_sim.scenariofile.model import (
    BurnEvent,
    DarkEvent,
    GarbageEvent,
    RiverEvent,
    SpikeEvent,
    StuckEvent,
)

log = logging.getLogger("envgrid.sim")


class Target(Protocol):
    """What runs the nodes (a township or a swarm): it takes incidents and power cuts."""

    def inject(self, node_id: str, incident: Incident) -> None:
        """Make a node's metric misbehave."""

    def go_dark(self, node_id: str, for_s: float) -> None:
        """Cut a node's power for ``for_s`` seconds (its Will goes out)."""


class StationTarget(Target, Container[str], Protocol):
    """What runs the HJ 212 stations: a target that knows which nodes are its own."""


class Routed:
    """Each event to whoever runs its node: the HJ 212 stations or the MQTT nodes."""

    def __init__(self, nodes: Target, stations: StationTarget) -> None:
        self.nodes = nodes
        self.stations = stations

    def _of(self, node_id: str) -> Target:
        return self.stations if node_id in self.stations else self.nodes

    def inject(self, node_id: str, incident: Incident) -> None:
        """Make a node's or a station's metric misbehave."""
        self._of(node_id).inject(node_id, incident)

    def go_dark(self, node_id: str, for_s: float) -> None:
        """Cut a node's power or a station's link for ``for_s`` seconds."""
        self._of(node_id).go_dark(node_id, for_s)


def incidents(scenario: Scenario, start: datetime) -> list[tuple[str, Incident]]:
    """The signal incidents of the timeline, as (node id, incident), for a run from ``start``.

    A river event starts at its section and reaches each section downstream ``travel_s``
    later than the one above it, its excess over normal shrinking by ``decay`` a hop.
    """
    out: list[tuple[str, Incident]] = []
    for event in scenario.timeline:
        at = start + timedelta(seconds=event.at_s)
        if isinstance(event, SpikeEvent):
            duration = timedelta(seconds=event.for_s)
            ramp = (
                timedelta(seconds=event.ramp_s)
                if event.ramp_s is not None
                else min(timedelta(seconds=60), duration / 4)
            )
            ramp = min(ramp, duration / 2)
            incident = Incident(event.metric, at, duration, event.factor, event.offset, ramp=ramp)
            out.append((event.node, incident))
        elif isinstance(event, StuckEvent):
            stuck = Incident(event.metric, at, timedelta(seconds=event.for_s), stuck=True)
            out.append((event.node, stuck))
        elif isinstance(event, RiverEvent):
            out.extend(_river(scenario, event, at))
    return out


def _river(scenario: Scenario, event: RiverEvent, at: datetime) -> Iterable[tuple[str, Incident]]:
    sites = {s.id: s for s in scenario.registry.sites}
    hops: dict[str, int] = {event.site: 0}
    frontier = [event.site]
    while frontier:  # breadth first: each section at its shortest distance downstream
        nxt = []
        for site_id in frontier:
            for down in sites[site_id].downstream:
                if down not in hops:
                    hops[down] = hops[site_id] + 1
                    nxt.append(down)
        frontier = nxt
    duration = timedelta(seconds=event.for_s)
    for spec in scenario.specs:
        hop = hops.get(spec.node.site_id)
        if hop is None or event.metric not in spec.profile.metrics:
            continue
        factor = 1 + (event.factor - 1) * event.decay**hop
        start = at + timedelta(seconds=event.travel_s * hop)
        ramp = min(timedelta(seconds=120), duration / 4)
        yield spec.node.id, Incident(event.metric, start, duration, factor, ramp=ramp)


def burns(scenario: Scenario) -> list[BurnIncident]:
    """The straw fires of the timeline, for the camera fleet."""
    return [
        BurnIncident(e.node, e.at_s, e.clip) for e in scenario.timeline if isinstance(e, BurnEvent)
    ]


def garbage_payloads(count: int, seed: int) -> list[bytes]:
    """Payloads no reading parser accepts: not JSON, wrong shapes, binary, cut short."""
    rng = random.Random(seed)
    shapes: list[Callable[[], bytes]] = [
        lambda: b"not json at all",
        lambda: rng.randbytes(rng.randint(1, 64)),
        lambda: b'{"seq": 1, "ts": "2026-',
        lambda: json.dumps({"seq": -rng.randint(1, 9), "ts": "yesterday"}).encode(),
        lambda: json.dumps([1, 2, 3]).encode(),
        lambda: json.dumps({"seq": 1, "ts": "2026-01-01T00:00:00+08:00", "values": {}}).encode(),
        lambda: b"\xff\xfe\x00garbage",
    ]
    return [shapes[i % len(shapes)]() for i in range(count)]


@dataclass(frozen=True, slots=True)
class Cue:
    """Where garbage goes: the broker and topics of the run."""

    address: BrokerAddress
    topics: Topics
    client_id_prefix: str = ""
    seed: int = 0


async def play(scenario: Scenario, target: Target, cue: Cue, stop: asyncio.Event) -> None:
    """Run the timeline's dark and garbage events on cue (until ``stop``); signal incidents
    must have been injected with :func:`incidents`, burns given to the camera fleet."""
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    events = sorted(
        (e for e in scenario.timeline if isinstance(e, DarkEvent | GarbageEvent)),
        key=lambda e: e.at_s,
    )
    for index, event in enumerate(events):
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(0.0, t0 + event.at_s - loop.time()))
        if stop.is_set():
            return
        if isinstance(event, DarkEvent):
            log.info("timeline: %s goes dark for %g s", event.node, event.for_s)
            target.go_dark(event.node, event.for_s)
        else:
            await _garbage(event, cue, index, stop)


async def _garbage(event: GarbageEvent, cue: Cue, index: int, stop: asyncio.Event) -> None:
    address, topic = cue.address, cue.topics.readings(event.node)
    payloads = garbage_payloads(event.count, cue.seed + index)
    log.info("timeline: %d garbage payloads on %s", len(payloads), topic)
    try:
        async with aiomqtt.Client(
            address.host,
            address.port,
            username=address.username,
            password=address.password,
            identifier=f"{cue.client_id_prefix}garbage-{index}",
            protocol=aiomqtt.ProtocolVersion.V5 if address.v5 else aiomqtt.ProtocolVersion.V311,
        ) as client:
            for payload in payloads:
                if stop.is_set():
                    return
                await client.publish(topic, payload, qos=1)
                if event.every_s:
                    await asyncio.sleep(event.every_s)
    except aiomqtt.MqttError as error:
        log.warning("timeline: garbage on %s not sent: %s", topic, error)
