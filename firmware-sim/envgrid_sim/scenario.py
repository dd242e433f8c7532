"""A scenario: a township's registry plus, for each node, what it measures or sees, and how."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import chain, zip_longest
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from envgrid_common.registry import (
    GridCell,
    GridLevel,
    Node,
    NodeKind,
    Registry,
    Site,
    SiteCategory,
)
from envgrid_common.signals import NodeSignals, Profile

if TYPE_CHECKING:
    from envgrid_sim.scenariofile.model import Event


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """One virtual node: its registry entry, its profile and how it differs from its peers.

    ``load`` scales the pollution level (a big pig farm, a downstream section); ``phase_h``
    shifts its daily cycle (a bin emptied at 7:30 instead of 6:30).
    """

    node: Node
    profile: Profile
    label_zh: str
    load: float = 1.0
    phase_h: float = 0.0

    def signals(self, seed: int) -> NodeSignals:
        """Fresh signals for this node (no incidents)."""
        return NodeSignals(
            self.node.id, self.profile.signals, seed=seed, load=self.load, phase_h=self.phase_h
        )


@dataclass(frozen=True, slots=True)
class CameraSpec:
    """One virtual camera node: its registry entry and the clips it shows (by name).

    ``background`` plays while nothing burns; a burn incident plays ``burn`` in the same field.
    """

    node: Node
    label_zh: str
    background: tuple[str, ...] = ("quiet-day",)
    burn: str = "burn-smoke-day"


@dataclass(frozen=True, slots=True)
class Hj212Spec:
    """One enterprise's online monitor whose 数采仪 speaks HJ 212 to the gateway over TCP.

    Its node carries the MN and password (``hj212_mn``, ``hj212_password``); ``source`` is
    what it watches (``effluent`` or ``flue_gas``), ``edition`` and ``crc`` how it speaks.
    """

    node: Node
    label_zh: str
    source: str = "effluent"
    edition: str = "2017"
    crc: str = "standard"

    def __post_init__(self) -> None:
        if self.node.hj212_mn is None or self.node.hj212_password is None:
            raise ValueError(f"node {self.node.id}: an HJ 212 station needs an MN and password")


@dataclass(frozen=True, slots=True)
class Scenario:
    """A township to simulate: the registry the cloud imports, and the nodes to run."""

    name: str
    title: str
    registry: Registry
    specs: tuple[NodeSpec, ...]
    cameras: tuple[CameraSpec, ...] = ()
    hj212: tuple[Hj212Spec, ...] = ()
    timeline: tuple[Event, ...] = ()  # incidents on cue, from a scenario file
    _sites: dict[str, Site] = field(init=False, repr=False, compare=False)
    _cells: dict[str, GridCell] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        sites = {s.id: s for s in self.registry.sites}
        object.__setattr__(self, "_sites", sites)
        object.__setattr__(self, "_cells", {c.id: c for c in self.registry.cells})
        declared = [s.node for s in self.specs] + [c.node for c in self.cameras]
        declared += [h.node for h in self.hj212]
        if declared != list(self.registry.nodes):
            raise ValueError(
                f"scenario {self.name}: sensor, camera then HJ 212 specs must match the "
                "registry's nodes 1:1"
            )
        for camera in self.cameras:
            if camera.node.kind is not NodeKind.CAMERA:
                raise ValueError(f"node {camera.node.id}: a camera spec needs a camera node")
        for spec in self.specs:
            site = sites[spec.node.site_id]
            if spec.profile.category is not site.category:
                raise ValueError(
                    f"node {spec.node.id}: profile {spec.profile.name} is for "
                    f"{spec.profile.category.value} sites, {site.id} is {site.category.value}"
                )

    @property
    def township(self) -> GridCell:
        """The township cell (the first one in the registry)."""
        return next(c for c in self.registry.cells if c.level is GridLevel.TOWNSHIP)

    def site(self, site_id: str) -> Site:
        """One site by id."""
        return self._sites[site_id]

    def place(self, site: Site) -> str:
        """The grid cell a site belongs to, by name (``东阳村二组``)."""
        return self._cells[site.cell_id].name

    def limited(self, count: int) -> Scenario:
        """The first ``count`` sensor nodes, taken in turn from each category so every kind
        runs; every camera and HJ 212 station stays."""
        if count < 1:
            raise ValueError("a scenario needs at least one node")
        by_category: dict[SiteCategory, list[NodeSpec]] = {}
        for spec in self.specs:
            by_category.setdefault(self._sites[spec.node.site_id].category, []).append(spec)
        interleaved = [
            s for s in chain.from_iterable(zip_longest(*by_category.values())) if s is not None
        ]
        chosen = {s.node.id for s in interleaved[:count]}
        specs = tuple(s for s in self.specs if s.node.id in chosen)
        registry = Registry(
            cells=self.registry.cells,
            sites=self.registry.sites,
            nodes=tuple(s.node for s in specs)
            + tuple(c.node for c in self.cameras)
            + tuple(h.node for h in self.hj212),
            officers=self.registry.officers,
        )
        return Scenario(
            self.name, self.title, registry, specs, self.cameras, self.hj212, self.timeline
        )


class ScenarioFactory(Protocol):
    """Builds a scenario; ``cameras`` adds its camera nodes, ``hj212`` its HJ 212 stations (and
    their sites) to the registry."""

    def __call__(
        self, report_interval_s: float = 5.0, *, cameras: bool = False, hj212: bool = False
    ) -> Scenario:
        """The scenario, its nodes reporting every ``report_interval_s``."""


def scenarios() -> dict[str, ScenarioFactory]:
    """Every scenario that ships, by name."""
    from envgrid_sim.scenarios.luxi import luxi_scenario

    return {"luxi": luxi_scenario}


def is_scenario_file(name: str) -> bool:
    """Whether ``name`` names a scenario file (a path) rather than a shipped scenario."""
    return name.endswith((".yaml", ".yml")) or "/" in name


def load_scenario(
    name: str,
    report_interval_s: float | None = 5.0,
    *,
    cameras: bool = False,
    hj212: bool = False,
) -> Scenario:
    """A shipped scenario by name, or a scenario file by path; every node reporting every
    ``report_interval_s`` (None: as the file says); with its camera nodes if ``cameras``,
    its HJ 212 stations if ``hj212``.

    Raises ValueError (a ScenarioFileError, with file and line, for a bad file).
    """
    if is_scenario_file(name):
        from envgrid_sim.scenariofile.build import scenario_from_file

        return scenario_from_file(
            Path(name), report_interval_s=report_interval_s, cameras=cameras, hj212=hj212
        )
    factories = scenarios()
    if name not in factories:
        raise ValueError(
            f"unknown scenario {name!r}; choose from {', '.join(sorted(factories))} "
            "or give a scenario file (.yaml)"
        )
    return factories[name](report_interval_s or 5.0, cameras=cameras, hj212=hj212)
