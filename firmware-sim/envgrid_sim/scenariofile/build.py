"""A validated scenario file → the :class:`~envgrid_sim.scenario.Scenario` the simulator runs."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from envgrid_common.registry import (
    GridCell,
    Node,
    NodeKind,
    Officer,
    Registry,
    Site,
    SiteCategory,
)
from envgrid_common.signals import PROFILES, Profile
from envgrid_sim.hj212.factors import SourceKind, factors_of
from envgrid_sim.scenario import CameraSpec, Hj212Spec, NodeSpec, Scenario
from envgrid_sim.scenariofile.load import (
    Loc,
    Located,
    ScenarioFileError,
    parse_scenario,
    read_scenario,
)
from envgrid_sim.scenariofile.model import (
    BurnEvent,
    CameraEntry,
    DarkEvent,
    Event,
    GarbageEvent,
    Hj212Entry,
    RiverEvent,
    ScenarioFile,
    SensorEntry,
    SpikeEvent,
    StuckEvent,
)


class _Problems:
    """Collects every problem of a file before giving up, so one run shows them all."""

    def __init__(self, located: Located) -> None:
        self.located = located
        self.found: list[str] = []

    def add(self, loc: Loc, message: str) -> None:
        self.found.append(self.located.at(loc, message))

    def raise_any(self) -> None:
        if self.found:
            raise ScenarioFileError(self.located.source, self.found)


def _profile(name: str, category: SiteCategory) -> Profile | str:
    profile = PROFILES.get(name)
    if profile is None:
        return f"unknown profile {name!r}; choose from {', '.join(sorted(PROFILES))}"
    if profile.category is not category:
        return f"profile {name} is for {profile.category.value} sites, not {category.value}"
    return profile


def build_scenario(
    model: ScenarioFile,
    located: Located,
    *,
    report_interval_s: float | None = None,
    cameras: bool = True,
    hj212: bool = True,
) -> Scenario:
    """The scenario a file describes; ``report_interval_s`` overrides the interval of every
    sensor and camera; without ``cameras`` the camera nodes, without ``hj212`` the HJ 212
    stations are left out (and sites left with no node)."""
    problems = _Problems(located)
    cell_ids = {c.id for c in model.cells}
    cells = []
    for i, c in enumerate(model.cells):
        if c.parent is not None and c.parent not in cell_ids:
            problems.add(("cells", i, "parent"), f"unknown cell {c.parent!r}")
        cells.append(GridCell(id=c.id, level=c.level, name=c.name, parent_id=c.parent))
    site_ids = {s.id for s in model.sites}
    sites: list[Site] = []
    specs: list[NodeSpec] = []
    cams: list[CameraSpec] = []
    stations: list[Hj212Spec] = []
    seen_nodes: set[str] = set()
    for i, s in enumerate(model.sites):
        if s.cell not in cell_ids:
            problems.add(("sites", i, "cell"), f"unknown cell {s.cell!r}")
        for j, down in enumerate(s.downstream):
            if down not in site_ids:
                problems.add(("sites", i, "downstream", j), f"unknown site {down!r}")
        kept = 0
        for j, entry in enumerate(s.nodes):
            interval = report_interval_s or entry.report_interval_s or model.report_interval_s
            if isinstance(entry, SensorEntry):
                profile = _profile(entry.profile, s.category)
                if isinstance(profile, str):
                    problems.add(("sites", i, "nodes", j, "profile"), profile)
                    continue
                node = Node(
                    id=entry.id or f"{s.id}-{profile.slug}",
                    site_id=s.id,
                    kind=NodeKind.SENSOR,
                    report_interval_s=interval,
                )
                spec = NodeSpec(
                    node,
                    profile,
                    label_zh=entry.label_zh or f"{s.name}{profile.label_zh}",
                    load=entry.load if entry.load is not None else s.load,
                    phase_h=entry.phase_h if entry.phase_h is not None else s.phase_h,
                )
                specs.append(spec)
            elif isinstance(entry, CameraEntry):
                node = Node(
                    id=entry.id or f"{s.id}-cam",
                    site_id=s.id,
                    kind=NodeKind.CAMERA,
                    report_interval_s=interval,
                )
                if cameras:
                    label = entry.label_zh or f"{s.name}监控摄像头"
                    cams.append(CameraSpec(node, label, entry.background, entry.burn))
            else:
                node = Node(
                    id=entry.id or f"{s.id}-{entry.source}",
                    site_id=s.id,
                    kind=NodeKind.SENSOR,
                    report_interval_s=entry.report_interval_s,
                    hj212_mn=entry.mn,
                    hj212_password=entry.password,
                )
                if hj212:
                    label = entry.label_zh or f"{s.name}在线监测"
                    stations.append(Hj212Spec(node, label, entry.source, entry.edition, entry.crc))
            if node.id in seen_nodes:
                problems.add(("sites", i, "nodes", j), f"node {node.id} is declared twice")
            seen_nodes.add(node.id)
            kept += isinstance(entry, SensorEntry) or (
                cameras if isinstance(entry, CameraEntry) else hj212
            )
        if kept or not s.nodes:
            sites.append(_site(model, i))
    for i, o in enumerate(model.officers):
        if o.cell not in cell_ids:
            problems.add(("officers", i, "cell"), f"unknown cell {o.cell!r}")
    timeline = _check_timeline(model, specs, problems, cameras=cameras, hj212=hj212)
    problems.raise_any()
    officers = tuple(
        Officer(id=o.id, name=o.name, role=o.role, cell_id=o.cell, phone=o.phone, email=o.email)
        for o in model.officers
    )
    try:
        registry = Registry(
            cells=tuple(cells),
            sites=tuple(sites),
            nodes=tuple(s.node for s in specs)
            + tuple(c.node for c in cams)
            + tuple(h.node for h in stations),
            officers=officers,
        )
    except ValidationError as error:
        found = [located.at((), e["msg"]) for e in error.errors(include_url=False)]
        raise ScenarioFileError(located.source, found) from None
    return Scenario(
        model.name, model.title, registry, tuple(specs), tuple(cams), tuple(stations), timeline
    )


def _site(model: ScenarioFile, index: int) -> Site:
    s = model.sites[index]
    return Site(
        id=s.id,
        name=s.name,
        category=s.category,
        cell_id=s.cell,
        lon=s.lon,
        lat=s.lat,
        target_class=s.target_class,
        water_type=s.water_type,
        downstream=s.downstream,
    )


def _station_metrics(model: ScenarioFile) -> dict[str, tuple[str, ...]]:
    """Each HJ 212 station's node id → the metrics of its factors (``cod``…)."""
    return {
        (e.id or f"{s.id}-{e.source}"): tuple(f.metric for f in factors_of(SourceKind(e.source)))
        for s in model.sites
        for e in s.nodes
        if isinstance(e, Hj212Entry)
    }


def _check_timeline(
    model: ScenarioFile,
    specs: list[NodeSpec],
    problems: _Problems,
    *,
    cameras: bool,
    hj212: bool,
) -> tuple[Event, ...]:
    """The events that apply (burns only with cameras, a station's only with the stations),
    each checked against the registry."""
    sensors = {s.node.id: s for s in specs}
    camera_ids = {
        (e.id or f"{s.id}-cam") for s in model.sites for e in s.nodes if isinstance(e, CameraEntry)
    }
    stations = _station_metrics(model)
    water = {s.id for s in model.sites if s.category is SiteCategory.WATER_BODY}
    kept: list[Event] = []
    for i, event in enumerate(model.timeline):
        loc: tuple[int | str, ...] = ("timeline", i)
        if isinstance(event, BurnEvent):
            if event.node in stations:
                problems.add((*loc, "node"), f"{event.node} is an HJ 212 station, not a camera")
            elif event.node not in camera_ids:
                problems.add((*loc, "node"), f"{event.node!r} is not a camera node")
            elif cameras:
                kept.append(event)
            continue
        if isinstance(event, RiverEvent):
            if event.site not in water:
                problems.add((*loc, "site"), f"{event.site!r} is not a water body site")
            elif not any(
                s.node.site_id == event.site and event.metric in s.profile.metrics for s in specs
            ):
                problems.add((*loc, "metric"), f"no node at {event.site} measures {event.metric!r}")
        elif event.node in stations:
            if _check_station_event(event, stations[event.node], loc, problems) and hj212:
                kept.append(event)
            continue
        elif event.node not in sensors and event.node not in camera_ids:
            problems.add((*loc, "node"), f"unknown node {event.node!r}")
        elif event.node in camera_ids:
            # The simulator plays a camera's scene, not its agent's link: only a burn applies.
            problems.add((*loc, "node"), f"{event.node} is a camera node: only a burn applies")
        elif isinstance(event, SpikeEvent | StuckEvent):
            spec = sensors.get(event.node)
            if spec is None:
                problems.add((*loc, "node"), f"{event.node!r} is not a sensor node")
            elif event.metric not in spec.profile.metrics:
                problems.add(
                    (*loc, "metric"),
                    f"{event.node} measures {', '.join(spec.profile.metrics)}, not "
                    f"{event.metric!r}",
                )
        kept.append(event)
    return tuple(kept)


def _check_station_event(
    event: Event, metrics: tuple[str, ...], loc: tuple[int | str, ...], problems: _Problems
) -> bool:
    """Whether an event fits an HJ 212 station: spike and stuck on one of its factors, dark."""
    assert not isinstance(event, RiverEvent | BurnEvent)
    if isinstance(event, DarkEvent):
        return True
    if isinstance(event, GarbageEvent):
        problems.add(
            (*loc, "kind"),
            f"{event.node} is an HJ 212 station: garbage goes on an MQTT node's readings topic",
        )
        return False
    if event.metric not in metrics:
        problems.add(
            (*loc, "metric"),
            f"{event.node} measures {', '.join(metrics)}, not {event.metric!r}",
        )
        return False
    return True


def scenario_from_text(
    text: str,
    source: str = "<scenario>",
    *,
    report_interval_s: float | None = None,
    cameras: bool = True,
    hj212: bool = True,
) -> Scenario:
    """A scenario from the text of a file (see :func:`build_scenario`)."""
    model, located = parse_scenario(text, source)
    return build_scenario(
        model, located, report_interval_s=report_interval_s, cameras=cameras, hj212=hj212
    )


def scenario_from_file(
    path: Path,
    *,
    report_interval_s: float | None = None,
    cameras: bool = True,
    hj212: bool = True,
) -> Scenario:
    """A scenario from a file (see :func:`build_scenario`)."""
    model, located = read_scenario(path)
    return build_scenario(
        model, located, report_interval_s=report_interval_s, cameras=cameras, hj212=hj212
    )
