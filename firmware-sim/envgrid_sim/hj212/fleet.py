"""A scenario's HJ 212 stations run together on the simulator's event loop, with progress lines."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import datetime

from envgrid_common.signals import Incident
from envgrid_sim.hj212.build import StationOptions, build_station
from envgrid_sim.hj212.station import StationCounters, VirtualStation
from envgrid_sim.scenario import Hj212Spec

log = logging.getLogger("envgrid.sim.hj212")


def progress(station: VirtualStation) -> str:
    """One line of what the station has done."""
    c: StationCounters = station.counters
    made = ", ".join(f"{cn} {n}" for cn, n in sorted(c.cns.items())) or "none"
    state = "connected" if c.connected else "not connected"
    dark = f", dark {c.outages}×" if c.outages else ""
    return (
        f"hj212 {station.identity.mn}: {state}, uploads {c.uploads} ({made}), "
        f"packets sent {c.packets_sent}, answered {c.answered}, resent {c.resent}, "
        f"waiting {len(station.backlog)}, heartbeats {c.heartbeats}, connects {c.connects}{dark}"
    )


def options_for(spec: Hj212Spec, host: str, port: int, seed: int) -> StationOptions:
    """A scenario station's options: its MN, password, dialect, source and RtdInterval."""
    assert spec.node.hj212_mn is not None
    assert spec.node.hj212_password is not None
    return StationOptions(
        mn=spec.node.hj212_mn,
        password=spec.node.hj212_password,
        host=host,
        port=port,
        source=spec.source,
        edition=spec.edition,
        crc=spec.crc,
        rtd_interval_s=spec.node.report_interval_s,
        seed=seed,
    )


class StationFleet:
    """Every HJ 212 station of a scenario, by node id, connecting to one gateway listener."""

    def __init__(
        self,
        specs: Sequence[Hj212Spec],
        address: tuple[str, int] | None,
        *,
        seed: int = 0,
        start: datetime | None = None,
        progress_every_s: float = 30.0,
    ) -> None:
        self.address = address
        self.progress_every_s = progress_every_s
        self.specs = {spec.node.id: spec for spec in specs}
        self.stations: dict[str, VirtualStation] = {}
        if address is not None:
            host, port = address
            self.stations = {
                spec.node.id: build_station(options_for(spec, host, port, seed), start=start)
                for spec in specs
            }

    def __contains__(self, node_id: object) -> bool:
        return node_id in self.stations

    def inject(self, node_id: str, incident: Incident) -> None:
        """Make one station's factor misbehave (``incident.metric`` as readings name it)."""
        self.stations[node_id].values.inject(incident)
        log.info("incident on %s: %s", node_id, incident.describe())

    def go_dark(self, node_id: str, for_s: float) -> None:
        """One station's link goes down for ``for_s`` seconds (it keeps measuring)."""
        self.stations[node_id].go_dark(for_s)

    async def run(self, stop: asyncio.Event) -> None:
        """Run every station until ``stop``; a progress line a station every while, a summary."""
        if not self.stations:
            return
        self._announce()
        tasks = [
            asyncio.create_task(station.run(stop), name=f"hj212-{node_id}")
            for node_id, station in self.stations.items()
        ]
        reporter = asyncio.create_task(self._progress(), name="hj212-progress")
        try:
            await asyncio.gather(*tasks)
        finally:
            reporter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reporter
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for station in self.stations.values():
                log.info("stopped: %s", progress(station))

    def _announce(self) -> None:
        assert self.address is not None
        log.info("hj212: %d stations → %s:%d", len(self.stations), self.address[0], self.address[1])
        for node_id, station in self.stations.items():
            identity, spec = station.identity, self.specs[node_id]
            log.info(
                "  %-24s %s: MN %s ST=%s edition %s crc %s, %s every %g s",
                node_id,
                spec.label_zh,
                identity.mn,
                identity.st,
                identity.edition.value,
                identity.crc.value,
                ", ".join(station.values.metrics),
                station.schedule.cadence.realtime.total_seconds(),
            )

    async def _progress(self) -> None:
        while True:
            await asyncio.sleep(self.progress_every_s)
            for station in self.stations.values():
                log.info("%s", progress(station))
