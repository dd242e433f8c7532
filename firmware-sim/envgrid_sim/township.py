"""A whole simulated township: every virtual node in one event loop, with progress lines."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from pathlib import Path

from envgrid_common.clock import WallClock as Clock
from envgrid_common.mqtt import BrokerAddress
from envgrid_common.outbox import Bounds, Outbox
from envgrid_common.sequence import FIRST_SEQ, seq_counter
from envgrid_common.signals import Incident
from envgrid_sim.link import LinkConfig
from envgrid_sim.node import VirtualNode, china_now
from envgrid_sim.scenario import Scenario
from envgrid_sim.settings import SimSettings

log = logging.getLogger("envgrid.sim")

OUTBOX_FILE = "outbox.sqlite"
LEGACY_SEQ_FILE = "seq.json"  # where sequence numbers were kept before the outbox held them
_PURGE_EVERY_S = 60.0


def open_outbox(settings: SimSettings) -> Outbox:
    """The township's outbox (one stream per node); raises OutboxLocked if another sim has it."""
    bounds = Bounds(
        max_rows=settings.sim_outbox_max_rows,
        max_bytes=settings.sim_outbox_max_bytes,
        max_age_s=settings.sim_outbox_max_age_s,
    )
    # NORMAL: survives a killed process (what the tests and the demo do); many virtual nodes
    # on one server would otherwise pay one fsync per reading.
    return Outbox(settings.sim_data_dir / OUTBOX_FILE, bounds, durability="normal")


def carry_over_legacy_seqs(outbox: Outbox, data_dir: Path) -> None:
    """Continue from a seq.json of an older version, so no seq is ever used twice."""
    path = data_dir / LEGACY_SEQ_FILE
    if not path.exists():
        return
    nodes = json.loads(path.read_text(encoding="utf-8")).get("nodes", {})
    ahead = {
        seq_counter(node): int(value)
        for node, value in nodes.items()
        if int(value) > outbox.counter(seq_counter(node), FIRST_SEQ)
    }
    if ahead:
        outbox.put([], counters=ahead)
        log.info("continued the sequence numbers of %d nodes from %s", len(ahead), path)


class Township:
    """The virtual nodes of one scenario, run together until told to stop."""

    def __init__(
        self, settings: SimSettings, scenario: Scenario, *, clock: Clock = china_now
    ) -> None:
        self.settings = settings
        self.scenario = scenario
        self.link = LinkConfig(
            address=BrokerAddress.parse(settings.mqtt_url),
            topics=settings.topics,
            client_id_prefix=settings.sim_client_id_prefix,
            publish_timeout_s=settings.sim_publish_timeout_s,
            window=settings.sim_outbox_window,
        )
        self.outbox: Outbox | None = None  # open while running
        self._back_at: dict[str, float] = {}  # nodes gone dark → when power comes back
        self.nodes: dict[str, VirtualNode] = {
            spec.node.id: VirtualNode(
                spec,
                spec.signals(settings.sim_seed),
                self.link,
                clock=clock,
                reconnect_max_s=settings.sim_reconnect_max_s,
            )
            for spec in scenario.specs
        }

    @property
    def sent(self) -> int:
        """Readings acknowledged by the broker so far."""
        return sum(n.counters.sent for n in self.nodes.values())

    @property
    def failed(self) -> int:
        """Publishes that failed or were refused so far."""
        return sum(n.counters.failed for n in self.nodes.values())

    @property
    def connected(self) -> int:
        """Nodes connected right now."""
        return sum(n.counters.connected for n in self.nodes.values())

    def inject(self, node_id: str, incident: Incident) -> None:
        """Make one node's metric misbehave on purpose (to raise an alert)."""
        if node_id not in self.nodes:
            raise KeyError(f"no node {node_id!r} in scenario {self.scenario.name}")
        self.nodes[node_id].signals.inject(incident)
        log.info("incident on %s: %s", node_id, incident.describe())

    def go_dark(self, node_id: str, for_s: float) -> None:
        """One node loses power (its Will goes out) and is switched on again ``for_s`` later."""
        node = self.nodes[node_id]
        self._back_at[node_id] = time.monotonic() + for_s
        node.power_cut()

    async def _live(self, node: VirtualNode, stop: asyncio.Event, outbox: Outbox) -> None:
        """Run a node; after a :meth:`go_dark`, wait in the dark and run it again."""
        while True:
            await node.run(stop, outbox)
            back_at = self._back_at.pop(node.node_id, None)
            if back_at is None or stop.is_set():
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.0, back_at - time.monotonic()))
            if stop.is_set():
                return
            log.info("%s: power back on", node.node_id)

    def power_cut(self) -> None:
        """Every node loses power at once: connections drop, the brokers publish the Wills."""
        log.info("power cut: %d nodes drop off without saying goodbye", len(self.nodes))
        self._back_at.clear()
        for node in self.nodes.values():
            node.power_cut()

    async def run(self, stop: asyncio.Event) -> None:
        """Run every node until ``stop`` is set (graceful) or :meth:`power_cut` (abrupt).

        After a power cut, calling this again powers the township back on.
        """
        with open_outbox(self.settings) as outbox:
            carry_over_legacy_seqs(outbox, self.settings.sim_data_dir)
            self.outbox = outbox
            self._announce(outbox)
            progress = asyncio.create_task(self._progress(outbox), name="sim-progress")
            tasks = [
                asyncio.create_task(self._live(node, stop, outbox), name=f"sim-{node_id}")
                for node_id, node in self.nodes.items()
            ]
            try:
                await asyncio.gather(*tasks)
            finally:
                progress.cancel()
                for task in tasks:
                    task.cancel()
                await asyncio.gather(progress, *tasks, return_exceptions=True)
                self.outbox = None
                log.info(
                    "sim stopped: %d readings sent, %d failed publishes, %d messages stay in "
                    "the outbox for the next start",
                    self.sent,
                    self.failed,
                    len(outbox),
                )

    def _announce(self, outbox: Outbox) -> None:
        scenario = self.scenario
        log.info(
            "sim %s: %d nodes → %s under %s/, outbox %s (%d messages waiting)",
            scenario.title,
            len(self.nodes),
            self.link.address,
            self.link.topics.base,
            outbox.path,
            len(outbox),
        )
        for node in self.nodes.values():
            site = scenario.site(node.spec.node.site_id)
            log.info(
                "  %-24s %s @ %s (%.4f, %.4f): %s every %g s from seq %d",
                node.node_id,
                node.spec.label_zh,
                scenario.place(site),
                site.lon or 0.0,
                site.lat or 0.0,
                ", ".join(node.signals.metrics),
                node.interval,
                outbox.counter(seq_counter(node.node_id), FIRST_SEQ),
            )

    async def _progress(self, outbox: Outbox) -> None:
        every = self.settings.sim_progress_interval_s
        last = 0
        next_purge = time.monotonic() + _PURGE_EVERY_S
        while True:
            await asyncio.sleep(every)
            if time.monotonic() >= next_purge:
                next_purge = time.monotonic() + _PURGE_EVERY_S
                outbox.purge_expired()
            sent = self.sent
            box = outbox.stats()
            log.info(
                "sim: %d/%d nodes connected, %d readings sent (+%d in %g s), %d failed; "
                "outbox %d waiting, %d dropped",
                self.connected,
                len(self.nodes),
                sent,
                sent - last,
                every,
                self.failed,
                box.rows,
                box.dropped,
            )
            last = sent
