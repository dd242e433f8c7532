"""A whole simulated township: every virtual node in one event loop, with progress lines."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from envgrid_common.mqtt import BrokerAddress
from envgrid_sim.link import LinkConfig
from envgrid_sim.node import Clock, VirtualNode, china_now
from envgrid_sim.scenario import Scenario
from envgrid_sim.seqstore import SeqStore
from envgrid_sim.settings import SimSettings
from envgrid_sim.signals import Incident

log = logging.getLogger("envgrid.sim")


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
        )
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
        log.info(
            "incident on %s: %s ×%g %+g from %s for %s%s",
            node_id,
            incident.metric,
            incident.factor,
            incident.offset,
            incident.start.isoformat(timespec="seconds"),
            incident.duration,
            " (stuck)" if incident.stuck else "",
        )

    def power_cut(self) -> None:
        """Every node loses power at once: connections drop, the brokers publish the Wills."""
        log.info("power cut: %d nodes drop off without saying goodbye", len(self.nodes))
        for node in self.nodes.values():
            node.power_cut()

    async def run(self, stop: asyncio.Event) -> None:
        """Run every node until ``stop`` is set (graceful) or :meth:`power_cut` (abrupt).

        After a power cut, calling this again powers the township back on.
        """
        with SeqStore(self.settings.sim_data_dir, self.settings.sim_seq_block) as seqs:
            seqs.prepare(self.nodes)
            self._announce(seqs)
            progress = asyncio.create_task(self._progress(), name="sim-progress")
            tasks = [
                asyncio.create_task(node.run(stop, seqs), name=f"sim-{node_id}")
                for node_id, node in self.nodes.items()
            ]
            try:
                await asyncio.gather(*tasks)
            finally:
                progress.cancel()
                for task in tasks:
                    task.cancel()
                await asyncio.gather(progress, *tasks, return_exceptions=True)
                log.info(
                    "sim stopped: %d readings sent, %d failed publishes", self.sent, self.failed
                )

    def _announce(self, seqs: SeqStore) -> None:
        scenario = self.scenario
        log.info(
            "sim %s: %d nodes → %s under %s/, sequence state in %s",
            scenario.title,
            len(self.nodes),
            self.link.address,
            self.link.topics.base,
            seqs.path,
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
                seqs.peek(node.node_id),
            )

    async def _progress(self) -> None:
        every = self.settings.sim_progress_interval_s
        last = 0
        while True:
            await asyncio.sleep(every)
            sent = self.sent
            log.info(
                "sim: %d/%d nodes connected, %d readings sent (+%d in %g s), %d failed",
                self.connected,
                len(self.nodes),
                sent,
                sent - last,
                every,
                self.failed,
            )
            last = sent


async def run_township(
    settings: SimSettings,
    scenario: Scenario,
    stop: asyncio.Event,
    incidents: Iterable[tuple[str, Incident]] = (),
) -> None:
    """Run ``scenario`` until ``stop`` is set, with (node id, incident) pairs injected."""
    township = Township(settings, scenario)
    for node_id, incident in incidents:
        township.inject(node_id, incident)
    await township.run(stop)
