"""``envgrid sim``: run a simulated township of sensor nodes against a broker; its clips and
camera nodes are subcommands."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import timedelta
from pathlib import Path

from envgrid_common.mqtt import BrokerAddress
from envgrid_common.outbox import OutboxLocked
from envgrid_common.signals import Incident
from envgrid_sim.camera import cli as camera_cli
from envgrid_sim.camera.fleet import BURN_HELP, BurnIncident, CameraFleet, FleetOptions, parse_burn
from envgrid_sim.clips import cli as clips_cli
from envgrid_sim.hj212 import cli as hj212_cli
from envgrid_sim.hj212.factors import SourceKind, factors_of
from envgrid_sim.hj212.fleet import StationFleet
from envgrid_sim.node import china_now
from envgrid_sim.scenario import Scenario, is_scenario_file, load_scenario, scenarios
from envgrid_sim.scenariofile import cli as generate_cli
from envgrid_sim.scenariofile.timeline import Cue, Routed, play
from envgrid_sim.scenariofile.timeline import burns as timeline_burns
from envgrid_sim.scenariofile.timeline import incidents as timeline_incidents
from envgrid_sim.settings import SimSettings
from envgrid_sim.stopping import forget_loop_signals, loop_stop_on_signals
from envgrid_sim.swarm.runner import SwarmRunner
from envgrid_sim.table import render_table
from envgrid_sim.township import Township

INCIDENT_HELP = (
    "make a metric misbehave: NODE:METRIC:FACTOR[:START_S[:DURATION_S]], e.g. "
    "luxi-farm-01-effluent:cod:3:60:600 (COD ×3 from one minute after start, for ten "
    "minutes); or " + BURN_HELP + " (with --cameras); repeatable"
)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``sim`` (with ``run``, ``generate``, ``clips`` and ``camera``)."""
    parser = commands.add_parser(
        "sim",
        help="run a simulated township of sensor nodes",
        description=(
            "Run a township of virtual sensor nodes (farms, river sections, refuse points, "
            "roads). Each node has its own MQTT connection to ENVGRID_MQTT_URL, a retained "
            "online status with an offline Last Will, and publishes readings at QoS 1 on "
            "envgrid/v1/nodes/{node_id}/readings. Readings go through an outbox on disk: "
            "while the broker is away they are kept, and sent marked historical when it is "
            "back. Sequence numbers continue across restarts. With --scale, thousands of "
            "nodes run on one event loop, holding readings in memory instead. With --hj212, "
            "the scenario's HJ 212 stations (数采仪) run too, on the same event loop, "
            "connecting to the gateway's HJ 212 listener."
        ),
    )
    parser.add_argument(
        "--scenario",
        metavar="NAME|FILE",
        help=(
            "scenario to simulate: shipped (" + ", ".join(sorted(scenarios())) + ") or a "
            "scenario file (ENVGRID_SIM_SCENARIO, default luxi)"
        ),
    )
    add_run_options(parser)
    parser.set_defaults(handler=run, scenario_file=None)
    extras = parser.add_subparsers(
        dest="sim_command", metavar="{run,generate,clips,camera,hj212}", required=False
    )
    file_run = extras.add_parser(
        "run",
        help="run a scenario file, its timeline of incidents on cue",
        description=(
            "Run the scenario a file describes (docs/scenarios.md): its nodes, and its "
            "timeline of incidents counted from the start of the run. Same options as "
            "`envgrid sim`: camera nodes run with --cameras, HJ 212 stations with --hj212."
        ),
    )
    file_run.add_argument("scenario_file", metavar="SCENARIO.yaml", help="scenario file")
    add_run_options(file_run)
    file_run.set_defaults(handler=run, scenario=None)
    generate_cli.register(extras)
    clips_cli.register(extras)
    camera_cli.register(extras)
    hj212_cli.register(extras)


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """The options of a run (``envgrid sim`` and ``envgrid sim run``)."""
    parser.add_argument(
        "--interval",
        type=float,
        metavar="SECONDS",
        help="seconds between readings of a node (ENVGRID_SIM_REPORT_INTERVAL_S; default: "
        "the scenario file's, 5 for a shipped scenario)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="where the outbox and sequence numbers are kept (ENVGRID_SIM_DATA_DIR)",
    )
    parser.add_argument(
        "--nodes", type=int, metavar="N", help="run only N nodes, a mix of every kind"
    )
    parser.add_argument("--seed", type=int, help="seed of the signals (ENVGRID_SIM_SEED)")
    parser.add_argument(
        "--duration", type=float, metavar="SECONDS", help="stop by itself after SECONDS"
    )
    parser.add_argument(
        "--incident", action="append", default=[], metavar="SPEC", help=INCIDENT_HELP
    )
    parser.add_argument(
        "--cameras",
        action="store_true",
        default=None,
        help=(
            "also run the scenario's camera nodes as virtual IP cameras serving MJPEG streams "
            "(ENVGRID_SIM_CAMERAS); their addresses go to cameras.json in the data dir"
        ),
    )
    parser.add_argument(
        "--camera-port",
        type=int,
        metavar="PORT",
        help="port of the first camera, the next ones counting up; 0: any free port "
        "(ENVGRID_SIM_CAMERA_PORT, default 8090)",
    )
    parser.add_argument(
        "--hj212",
        metavar="HOST:PORT",
        help=(
            "also run the scenario's HJ 212 stations (数采仪), each connecting to the gateway's "
            "HJ 212 listener at HOST:PORT (ENVGRID_SIM_HJ212_TO); without it they are not run"
        ),
    )
    parser.add_argument(
        "--scale",
        action="store_true",
        default=None,
        help="scale mode: thousands of nodes on one event loop, readings held in memory "
        "while the broker is away (ENVGRID_SIM_SCALE)",
    )
    parser.add_argument(
        "--connections",
        type=int,
        metavar="N",
        help="scale mode: share N connections among the nodes; 0, the default, gives each "
        "node its own session and Last Will (ENVGRID_SIM_CONNECTIONS)",
    )
    parser.add_argument(
        "--list", action="store_true", help="print the scenario's sites and nodes, then exit"
    )


def settings_from(args: argparse.Namespace) -> SimSettings:
    """Settings from the environment, overridden by the options given."""
    overrides = {
        key: value
        for key, value in (
            ("sim_scenario", args.scenario_file or args.scenario),
            ("sim_report_interval_s", args.interval),
            ("sim_data_dir", args.data_dir),
            ("sim_nodes", args.nodes),
            ("sim_seed", args.seed),
            ("sim_cameras", args.cameras),
            ("sim_camera_port", args.camera_port),
            ("sim_hj212_to", args.hj212),
            ("sim_scale", args.scale),
            ("sim_connections", args.connections),
        )
        if value is not None
    }
    return SimSettings(**overrides)


def scenario_for(settings: SimSettings, *, hj212: bool | None = None) -> Scenario:
    """The scenario the settings name, limited to ``sim_nodes`` if set; a file's own interval
    holds unless one is set (ENVGRID_SIM_REPORT_INTERVAL_S or --interval). Its HJ 212
    stations (and their events) are in it if ``hj212``, by default when they are to run."""
    interval: float | None = settings.sim_report_interval_s
    if is_scenario_file(settings.sim_scenario) and "sim_report_interval_s" not in (
        settings.model_fields_set
    ):
        interval = None
    if hj212 is None:
        hj212 = settings.sim_hj212_to is not None
    scenario = load_scenario(
        settings.sim_scenario, interval, cameras=settings.sim_cameras, hj212=hj212
    )
    return scenario.limited(settings.sim_nodes) if settings.sim_nodes else scenario


def parse_incident(spec: str) -> tuple[str, Incident]:
    """``NODE:METRIC:FACTOR[:START_S[:DURATION_S]]`` → (node id, incident from now)."""
    parts = spec.split(":")
    if not 3 <= len(parts) <= 5:
        raise ValueError(f"incident {spec!r}: expected NODE:METRIC:FACTOR[:START_S[:DURATION_S]]")
    node_id, metric = parts[0], parts[1]
    try:
        factor = float(parts[2])
        start_s = float(parts[3]) if len(parts) > 3 else 0.0
        duration_s = float(parts[4]) if len(parts) > 4 else 600.0
    except ValueError:
        raise ValueError(f"incident {spec!r}: FACTOR, START_S and DURATION_S are numbers") from None
    duration = timedelta(seconds=duration_s)
    incident = Incident(
        metric,
        start=china_now() + timedelta(seconds=start_s),
        duration=duration,
        factor=factor,
        # A real discharge builds up over minutes, not in one reading.
        ramp=min(timedelta(seconds=60), duration / 4),
    )
    return node_id, incident


def print_scenario(scenario: Scenario) -> None:
    """The scenario's nodes as a table, one row per node (camera and station included)."""
    rows = []
    for spec in scenario.specs:
        site = scenario.site(spec.node.site_id)
        rows.append(
            (
                spec.node.id,
                site.name,
                site.category.value,
                scenario.place(site),
                f"{site.lon:.4f},{site.lat:.4f}" if site.lon is not None else "",
                ",".join(spec.profile.metrics),
                f"{spec.node.report_interval_s:g}s",
            )
        )
    for camera in scenario.cameras:
        site = scenario.site(camera.node.site_id)
        rows.append(
            (
                camera.node.id,
                site.name,
                site.category.value,
                scenario.place(site),
                f"{site.lon:.4f},{site.lat:.4f}" if site.lon is not None else "",
                "camera: " + ",".join(camera.background),
                f"{camera.node.report_interval_s:g}s",
            )
        )
    for station in scenario.hj212:
        site = scenario.site(station.node.site_id)
        metrics = ",".join(f.metric for f in factors_of(SourceKind(station.source)))
        rows.append(
            (
                station.node.id,
                site.name,
                site.category.value,
                scenario.place(site),
                f"{site.lon:.4f},{site.lat:.4f}" if site.lon is not None else "",
                f"hj212 {station.node.hj212_mn}: {metrics}",
                f"{station.node.report_interval_s:g}s",
            )
        )
    headers = ("node", "site", "category", "grid cell", "lon,lat", "metrics", "every")
    cameras = f" and {len(scenario.cameras)} cameras" if scenario.cameras else ""
    stations = f" and {len(scenario.hj212)} HJ 212 stations" if scenario.hj212 else ""
    print(
        f"{scenario.title}: {len(scenario.registry.sites)} sites, "
        f"{len(scenario.specs)} nodes{cameras}{stations}"
    )
    print(render_table(headers, rows))


async def _run(
    target: Township | SwarmRunner,
    stations: StationFleet,
    scenario: Scenario,
    cue: Cue,
    duration: float | None,
) -> None:
    """The MQTT nodes and the stations until SIGINT, SIGTERM or ``duration``, the timeline
    on cue; a scenario of cameras or stations alone runs as long as one with nodes."""
    stop = loop_stop_on_signals(duration)
    routed = Routed(target, stations)
    timeline = asyncio.create_task(play(scenario, routed, cue, stop), name="sim-timeline")
    runners = [asyncio.create_task(stations.run(stop), name="sim-hj212")]
    if scenario.specs:
        runners.append(asyncio.create_task(target.run(stop), name="sim-nodes"))
    try:
        await asyncio.gather(stop.wait(), *runners)
    finally:
        stop.set()  # one part failing (an outbox in use) stops the others cleanly
        timeline.cancel()
        await asyncio.gather(timeline, *runners, return_exceptions=True)
        forget_loop_signals()


def run(args: argparse.Namespace) -> int:
    """Run (or list) the township: 0 after a clean stop, 1 if it cannot run, 2 for bad options."""
    try:
        settings = settings_from(args)
        scenario = scenario_for(settings)
        burns: list[BurnIncident] = timeline_burns(scenario)
        start = china_now()
        incidents = timeline_incidents(scenario, start)
        for spec in args.incident:
            burn = parse_burn(spec)
            if burn is not None:
                burns.append(burn)
            else:
                incidents.append(parse_incident(spec))
        if burns and not settings.sim_cameras:
            raise ValueError("a burn incident needs the cameras running (--cameras)")
    except ValueError as error:
        print(f"envgrid sim: {error}", file=sys.stderr)
        return 2
    if args.list:
        print_scenario(scenario)
        if settings.sim_hj212_to is None:
            idle = scenario_for(settings, hj212=True).hj212
            if idle:
                ids = ", ".join(s.node.id for s in idle)
                print(f"HJ 212 stations not run (no --hj212 HOST:PORT): {ids}")
        return 0
    target: Township | SwarmRunner
    try:
        stations = StationFleet(
            scenario.hj212,
            settings.hj212_address,
            seed=settings.sim_seed,
            start=start,
            progress_every_s=settings.sim_progress_interval_s,
        )
        if settings.sim_scale:
            target = SwarmRunner(settings, scenario)
        else:
            target = Township(settings, scenario)
        routed = Routed(target, stations)
        for node_id, incident in incidents:
            routed.inject(node_id, incident)
        fleet = camera_fleet(settings, scenario, burns)
    except (KeyError, ValueError) as error:
        print(f"envgrid sim: {error}", file=sys.stderr)
        return 2
    cue = Cue(
        BrokerAddress.parse(settings.mqtt_url),
        settings.topics,
        settings.sim_client_id_prefix,
        settings.sim_seed,
    )
    try:
        fleet.start()
    except OSError as error:
        print(f"envgrid sim: a camera cannot listen: {error}", file=sys.stderr)
        return 1
    try:
        if fleet.cameras:
            fleet.write_index(settings.sim_data_dir)
        asyncio.run(_run(target, stations, scenario, cue, args.duration))
    except OutboxLocked:
        print(
            f"envgrid sim: another simulator is using {settings.sim_data_dir} "
            "(choose another --data-dir)",
            file=sys.stderr,
        )
        return 1
    finally:
        fleet.stop()
    return 0


def camera_fleet(
    settings: SimSettings, scenario: Scenario, burns: list[BurnIncident]
) -> CameraFleet:
    """The scenario's cameras (none unless ``sim_cameras``), with the burns asked for."""
    options = FleetOptions(
        host=settings.sim_camera_host,
        first_port=settings.sim_camera_port,
        size=(settings.sim_camera_width, settings.sim_camera_height),
        fps=settings.sim_camera_fps,
        seed=settings.sim_seed,
    )
    cameras = scenario.cameras if settings.sim_cameras else ()
    return CameraFleet(cameras, options, burns)
