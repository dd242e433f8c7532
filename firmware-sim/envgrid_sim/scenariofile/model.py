"""What a scenario file (``envgrid-scenario/1``) holds, as pydantic models (docs/scenarios.md)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from envgrid_common.messages import Identifier
from envgrid_common.registry import (
    HJ212_MN_PATTERN,
    HJ212_PW_PATTERN,
    Email,
    GridLevel,
    Latitude,
    Longitude,
    Name,
    OfficerRole,
    Phone,
    SiteCategory,
    WaterClass,
    WaterType,
)
from envgrid_sim.hj212.schedule import RTD_INTERVAL_MAX_S, RTD_INTERVAL_MIN_S

FORMAT = "envgrid-scenario/1"

Seconds = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Duration = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CellEntry(_Strict):
    """One grid cell; ``parent`` is the id of the cell one level up."""

    id: Identifier
    level: GridLevel
    name: Name
    parent: Identifier | None = None


class SensorEntry(_Strict):
    """A sensor node running one signal profile (``farm_effluent``, ``river``…)."""

    kind: Literal["sensor"] = "sensor"
    profile: str
    id: Identifier | None = None  # default: {site}-{profile slug}
    label_zh: Name | None = None  # default: site name + profile label
    load: float | None = Field(default=None, gt=0)  # default: the site's
    phase_h: float | None = None  # default: the site's
    report_interval_s: Duration | None = None  # default: the file's


class CameraEntry(_Strict):
    """A camera node: clips it shows while nothing burns, and the burn clip."""

    kind: Literal["camera"]
    id: Identifier | None = None  # default: {site}-cam
    label_zh: Name | None = None
    background: tuple[str, ...] = ("quiet-day",)
    burn: str = "burn-smoke-day"
    report_interval_s: Duration | None = None


class Hj212Entry(_Strict):
    """An enterprise's online monitor whose 数采仪 speaks HJ 212 to the gateway over TCP."""

    kind: Literal["hj212_station"]
    mn: Annotated[str, Field(pattern=HJ212_MN_PATTERN)]
    password: Annotated[str, Field(pattern=HJ212_PW_PATTERN)]
    id: Identifier | None = None  # default: {site}-{source}
    label_zh: Name | None = None  # default: site name + 在线监测
    source: Literal["effluent", "flue_gas"] = "effluent"
    edition: Literal["2005", "2017", "2025"] = "2017"
    crc: Literal["standard", "modbus-le", "modbus-be"] = "standard"
    # Its RtdInterval (表 4: 30-3600 s): its own, not changed by --interval.
    report_interval_s: Annotated[
        float, Field(ge=RTD_INTERVAL_MIN_S, le=RTD_INTERVAL_MAX_S, allow_inf_nan=False)
    ] = 30.0


def _node_kind(value: object) -> str:
    # A node without ``kind`` is a sensor, the common case.
    kind = value.get("kind", "sensor") if isinstance(value, dict) else getattr(value, "kind", None)
    return str(kind)


NodeEntry = Annotated[
    Annotated[SensorEntry, Tag("sensor")]
    | Annotated[CameraEntry, Tag("camera")]
    | Annotated[Hj212Entry, Tag("hj212_station")],
    Discriminator(
        _node_kind,
        custom_error_type="node_kind",
        custom_error_message="kind is sensor (the default), camera or hj212_station",
    ),
]


class SiteEntry(_Strict):
    """A watched place, its nodes nested under it; ``load``/``phase_h`` apply to its sensors."""

    id: Identifier
    name: Name
    category: SiteCategory
    cell: Identifier
    lon: Longitude | None = None
    lat: Latitude | None = None
    target_class: WaterClass | None = None
    water_type: WaterType | None = None
    downstream: tuple[Identifier, ...] = ()
    load: float = Field(default=1.0, gt=0)
    phase_h: float = 0.0
    nodes: tuple[NodeEntry, ...] = ()


class OfficerEntry(_Strict):
    """A person on duty in one cell."""

    id: Identifier
    name: Name
    role: OfficerRole
    cell: Identifier
    phone: Phone | None = None
    email: Email | None = None


class _Event(_Strict):
    at_s: Seconds = Field(description="seconds after the start of the run")


class SpikeEvent(_Event):
    """A discharge: ``metric`` of ``node`` (a sensor or HJ 212 station) ×``factor``
    (+``offset``) for ``for_s``."""

    kind: Literal["spike"]
    node: Identifier
    metric: str
    factor: float = Field(default=3.0, gt=0)
    offset: float = 0.0
    for_s: Duration = 600.0
    ramp_s: Seconds | None = None  # default: a quarter of for_s, at most 60 s


class RiverEvent(_Event):
    """Pollution entering a river section and travelling downstream, hop after hop."""

    kind: Literal["river"]
    site: Identifier
    metric: str = "codmn"  # the river profile's organic load (高锰酸盐指数)
    factor: float = Field(default=2.5, gt=0)
    for_s: Duration = 1800.0
    travel_s: Seconds = 300.0  # from one section to the next one down
    decay: float = Field(default=0.8, gt=0, le=1)  # share of the excess that reaches the next


class StuckEvent(_Event):
    """A hung analyser repeating the same value (恒值) for ``for_s``."""

    kind: Literal["stuck"]
    node: Identifier
    metric: str
    for_s: Duration = 3600.0


class DarkEvent(_Event):
    """A node losing power (its Will goes out), or a station its link, back ``for_s`` later."""

    kind: Literal["dark"]
    node: Identifier
    for_s: Duration = 900.0


class GarbageEvent(_Event):
    """A burst of malformed payloads on ``node``'s readings topic (dead letters)."""

    kind: Literal["garbage"]
    node: Identifier
    count: int = Field(default=20, ge=1, le=100_000)
    every_s: Seconds = 0.1


class BurnEvent(_Event):
    """A straw fire in front of a camera node (needs the cameras running)."""

    kind: Literal["burn"]
    node: Identifier
    clip: str | None = None


Event = Annotated[
    SpikeEvent | RiverEvent | StuckEvent | DarkEvent | GarbageEvent | BurnEvent,
    Field(discriminator="kind"),
]


class ScenarioFile(_Strict):
    """A whole scenario file."""

    format: Literal["envgrid-scenario/1"]
    name: Identifier
    title: Name
    report_interval_s: Duration = 5.0
    cells: tuple[CellEntry, ...] = Field(min_length=1)
    sites: tuple[SiteEntry, ...] = ()
    officers: tuple[OfficerEntry, ...] = ()
    timeline: tuple[Event, ...] = ()
