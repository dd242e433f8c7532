"""``envgrid sim --scale``: a scenario's sensor nodes as a :class:`Swarm`, with progress lines."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from envgrid_common.mqtt import BrokerAddress
from envgrid_common.signals import Incident
from envgrid_sim.scenario import Scenario
from envgrid_sim.settings import SimSettings
from envgrid_sim.swarm.seqs import SeqBook
from envgrid_sim.swarm.swarm import Swarm, SwarmOptions
from envgrid_sim.township import OUTBOX_FILE

log = logging.getLogger("envgrid.sim")

ON_TIME_S = 1.0  # a reading is on time if published within this of its slot


def swarm_options(settings: SimSettings) -> SwarmOptions:
    """The swarm's options from the simulator's settings."""
    return SwarmOptions(
        address=BrokerAddress.parse(settings.mqtt_url),
        topics=settings.topics,
        client_id_prefix=settings.sim_client_id_prefix,
        connections=settings.sim_connections,
        jitter_s=settings.sim_jitter_s,
        skew_s=settings.sim_clock_skew_s,
        backlog=settings.sim_backlog,
        reconnect_max_s=settings.sim_reconnect_max_s,
        seed=settings.sim_seed,
    )


class SwarmRunner:
    """Runs a scenario's sensor nodes as a swarm until told to stop (camera nodes run apart)."""

    def __init__(self, settings: SimSettings, scenario: Scenario) -> None:
        self.settings = settings
        self.scenario = scenario
        self.seqs = SeqBook(settings.sim_data_dir / OUTBOX_FILE)
        self.swarm = Swarm(
            scenario.specs, swarm_options(settings), self.seqs, signal_seed=settings.sim_seed
        )
        self.swarm.check_limits()

    def inject(self, node_id: str, incident: Incident) -> None:
        """Make one node's metric misbehave on purpose."""
        if node_id not in self.swarm.nodes:
            raise KeyError(f"no node {node_id!r} in scenario {self.scenario.name}")
        self.swarm.inject(node_id, incident)

    def go_dark(self, node_id: str, for_s: float) -> None:
        """Cut one node's power for ``for_s`` seconds."""
        self.swarm.go_dark(node_id, for_s)

    async def run(self, stop: asyncio.Event) -> None:
        """Open the seq file, run the swarm until ``stop``, store the seqs."""
        self.settings.sim_data_dir.mkdir(parents=True, exist_ok=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.seqs.open, list(self.swarm.nodes))
        progress = asyncio.create_task(self._progress(), name="swarm-progress")
        try:
            await self.swarm.run(stop)
        finally:
            progress.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await progress
            await loop.run_in_executor(None, self.seqs.close)
            self._log_line("sim stopped")

    async def _progress(self) -> None:
        while True:
            await asyncio.sleep(self.settings.sim_progress_interval_s)
            self._log_line("sim")

    def _log_line(self, what: str) -> None:
        c, swarm = self.swarm.counters, self.swarm
        late = c.lateness
        on_time = late.within(ON_TIME_S) / late.total if late.total else 1.0
        log.log(
            logging.WARNING if on_time < 0.99 else logging.INFO,
            "%s: %d nodes, %d/%d connections up; %d readings, %d acknowledged, %d refused, "
            "%d held while offline, %d dropped; lateness p50 %.3f s p99 %.3f s, %.1f%% on time "
            "(within %g s)%s",
            what,
            len(swarm.nodes),
            swarm.connected,
            len(swarm.sessions),
            c.produced,
            c.acked,
            c.refused,
            c.held,
            c.dropped,
            late.percentile_s(50),
            late.percentile_s(99),
            100 * on_time,
            ON_TIME_S,
            (
                "; readings LATE: the broker was away or this machine cannot keep up"
                if on_time < 0.99
                else ""
            ),
        )
