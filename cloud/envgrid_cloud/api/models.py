"""Request and response models of the HTTP API (separate from the wire messages)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, JsonValue, model_validator

from envgrid_cloud.api.shanghai import to_shanghai
from envgrid_cloud.auth.logins import Login
from envgrid_common.messages import Identifier
from envgrid_common.metrics import Medium
from envgrid_common.registry import (
    PARENT_LEVEL,
    CensusRef,
    Email,
    GridLevel,
    Latitude,
    Longitude,
    LongText,
    Name,
    NodeKind,
    OfficerRole,
    Phone,
    SiteCategory,
    WaterClass,
    WaterType,
    water_details_problem,
)

# Stored in UTC, shown on Shanghai's clock: every time in a response carries +08:00.
ShanghaiTime = Annotated[
    datetime,
    AfterValidator(to_shanghai),
    Field(description="ISO 8601 with the Asia/Shanghai offset (+08:00)"),
]


# A node reports at most every second and at least once a day (the no-data rule relies on it).
MIN_REPORT_INTERVAL_S = 1.0
MAX_REPORT_INTERVAL_S = 86_400.0


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class Metric(_Out):
    """A canonical metric name, its unit and labels (监测因子)."""

    name: str = Field(description="Canonical name used in readings' `values`", examples=["cod"])
    unit: str = Field(examples=["mg/L"])
    medium: Medium = Field(description="水 water, 气 air, or other")
    label_zh: str = Field(examples=["化学需氧量"])
    label_en: str = Field(examples=["COD"])
    hj212_2017: str | None = Field(description="HJ 212-2017 factor code (因子编码)")
    hj212_2005: str | None = Field(description="HJ/T 212-2005 code (原编码)")


class GridCell(_Out):
    """A cell of the grid (网格): county, township, village or villager group."""

    id: str
    level: GridLevel = Field(description="county 县 · township 乡镇 · village 村 · group 村民小组")
    name: str
    parent_id: str | None = Field(description="The enclosing cell; null for a county")


def _storable(value: JsonValue) -> JsonValue:
    """``value`` if PostgreSQL's jsonb can hold it: no NUL in text, no infinite numbers."""
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("text may not contain NUL characters")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("numbers must be finite")
    if isinstance(value, dict):
        for key, item in value.items():
            _storable(key)
            _storable(item)
    if isinstance(value, list):
        for item in value:
            _storable(item)
    return value


RuleOverrides = dict[str, dict[str, JsonValue]]
# As sent: rule ids and field names are ids; what jsonb cannot hold is refused.
RuleOverridesIn = Annotated[
    dict[Identifier, dict[Identifier, JsonValue]], AfterValidator(_storable)
]


class Site(_Out):
    """A watched pollution source (重点污染源) in one grid cell."""

    id: str
    name: str
    category: SiteCategory = Field(description="Kind of pollution source (污染源类别)")
    cell_id: str = Field(description="The grid cell the site belongs to (所属网格)")
    lon: float | None = Field(description="Longitude, degrees east")
    lat: float | None = Field(description="Latitude, degrees north")
    production_process: str | None = Field(description="Production process (生产工艺)")
    treatment_requirements: str | None = Field(description="Treatment requirements (治理要求)")
    target_class: WaterClass | None = Field(
        description="Water bodies: GB 3838-2002 class to meet (水质目标)"
    )
    water_type: WaterType | None = Field(description="Water bodies: river or lake/reservoir")
    downstream: list[str] = Field(description="Sites the water flows on to (下游)")
    census_ref: str | None = Field(description="The census list's id of the site (污染源编码)")
    rule_overrides: RuleOverrides = Field(
        description="Changes to its category's rules: {rule id: {field: value}}"
    )
    created_at: ShanghaiTime


class Node(_Out):
    """A sensor or camera node (监测点位) watching one site."""

    id: str
    site_id: str
    kind: NodeKind
    report_interval_s: float = Field(description="Expected seconds between readings")
    status: Literal["unknown", "online", "offline"] = Field(description="Liveness (在线状态)")
    status_at: ShanghaiTime | None = Field(description="When the status last changed")
    created_at: ShanghaiTime
    last_reading_at: ShanghaiTime | None = Field(
        description="Source time of the newest value stored for this node"
    )


class SiteDetail(Site):
    """A site with its nodes and the sites whose water flows into it."""

    upstream: list[str] = Field(description="Sites that list this one as downstream (上游)")
    nodes: list[Node]


class SiteRules(_Out):
    """A site's changes to its category's rules."""

    site_id: str
    rule_overrides: RuleOverrides


class User(_Out):
    """A person who signs in: a grid officer (网格员), a reviewer (审核员) or an administrator."""

    id: str
    login: str = Field(description="Login name (登录名)")
    name: str
    role: OfficerRole = Field(description="grid_officer 网格员 · reviewer 审核员 · admin")
    cell_id: str | None = Field(
        description="Their grid cell: they see and act within it and below it (admins: optional)"
    )
    phone: str | None
    email: str | None
    active: bool = Field(description="False once deactivated: no sign-in, no token works")
    locale: Literal["zh-CN", "en"] = Field(description="Language of the desk and messages")
    has_password: bool = Field(description="Whether a password is set (else no sign-in)")
    created_at: ShanghaiTime


class UserRemoved(_Out):
    """What removing a user did."""

    id: str
    outcome: Literal["deleted", "deactivated"]
    detail: str


# A number is a JSON number and a flag a JSON boolean: not true for 1.0, nor "60" for 60.
STRICT = Field(strict=True)


class _In(BaseModel):
    # A misspelt field is an error, not silently ignored. Text fields (Name, LongText, …) bar
    # control characters and drop surrounding blanks themselves (envgrid_common.registry).
    model_config = ConfigDict(extra="forbid", frozen=True)


class GridCellUpdate(_In):
    """A grid cell's new level, name and parent."""

    level: GridLevel
    name: Name
    parent_id: Identifier | None = Field(
        default=None, description="The enclosing cell (one level up); omit for a county"
    )

    @model_validator(mode="after")
    def _parent_fits_level(self) -> GridCellUpdate:
        want = PARENT_LEVEL[self.level]
        if want is None and self.parent_id is not None:
            raise ValueError("a county has no parent cell")
        if want is not None and self.parent_id is None:
            raise ValueError(f"a {self.level.value} needs a parent_id (a {want.value})")
        return self


class GridCellCreate(GridCellUpdate):
    """A new grid cell."""

    id: Identifier


class SiteUpdate(_In):
    """Everything about a site but its id and rule overrides (those have their own endpoint)."""

    name: Name
    category: SiteCategory
    cell_id: Identifier = Field(description="The grid cell it belongs to")
    lon: Annotated[Longitude, STRICT] | None = None
    lat: Annotated[Latitude, STRICT] | None = None
    production_process: LongText | None = None
    treatment_requirements: LongText | None = None
    target_class: WaterClass | None = Field(default=None, description="Water bodies only")
    water_type: WaterType | None = Field(default=None, description="Water bodies only")
    downstream: list[Identifier] = Field(
        default_factory=list,
        max_length=100,
        description="Sites the water flows on to; replaces the old list",
        json_schema_extra={"uniqueItems": True},
    )
    census_ref: CensusRef | None = None

    @model_validator(mode="after")
    def _details_fit(self) -> SiteUpdate:
        problem = water_details_problem(self.category, self.target_class, self.water_type)
        if problem:
            raise ValueError(problem)
        if len(set(self.downstream)) != len(self.downstream):
            raise ValueError("a downstream site is listed twice")
        if (self.lon is None) != (self.lat is None):
            raise ValueError("give both lon and lat, or neither")
        return self


class SiteCreate(SiteUpdate):
    """A new site."""

    id: Identifier


class NodeUpdate(_In):
    """Which site a node watches and how it reports."""

    site_id: Identifier
    kind: NodeKind = NodeKind.SENSOR
    report_interval_s: float = Field(
        default=60.0,
        ge=MIN_REPORT_INTERVAL_S,
        le=MAX_REPORT_INTERVAL_S,
        allow_inf_nan=False,
        strict=True,
        description="Expected seconds between readings: 1 s to a day",
    )


class NodeCreate(NodeUpdate):
    """A new node."""

    id: Identifier


class UserUpdate(_In):
    """A user's details."""

    login: Login
    name: Name
    role: OfficerRole
    cell_id: Identifier | None = Field(
        default=None, description="The grid cell they look after (required unless admin)"
    )
    phone: Phone | None = None
    email: Email | None = None
    active: Annotated[bool, STRICT] = True
    locale: Literal["zh-CN", "en"] = "zh-CN"

    @model_validator(mode="after")
    def _cell_unless_admin(self) -> UserUpdate:
        if self.cell_id is None and self.role is not OfficerRole.ADMIN:
            raise ValueError("a grid officer or reviewer needs a cell_id")
        return self


class UserCreate(UserUpdate):
    """A new user, with a first password if they are to sign in at once."""

    id: Identifier
    password: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        pattern=r"^[^\x00]*$",
        description="At least 8 characters; omit to set it later (envgrid users passwd)",
    )


class LatestValue(_Out):
    """The newest value of one metric at a site (最新监测值)."""

    metric: str
    value: float
    unit: str | None = Field(description="Unit from the catalogue; null for an unknown metric")
    label_zh: str | None
    label_en: str | None
    flag: str | None = Field(description="HJ 212 data flag (数据标记), e.g. N normal, D fault")
    ts: ShanghaiTime = Field(description="Time of measurement")
    seq: int
    node_id: str = Field(description="The node that measured it")


class SiteLatest(_Out):
    """The newest value of every metric across a site's nodes."""

    site_id: str
    values: list[LatestValue]


class ReadingPoint(_Out):
    """One stored value of the requested metric."""

    ts: ShanghaiTime = Field(description="Time of measurement (监测时间)")
    node_id: str
    seq: int
    value: float
    flag: str | None = Field(description="HJ 212 data flag (数据标记), if the node sent one")
    historical: bool = Field(description="Sent late from a buffer (补传数据)")


class Bucket(_Out):
    """Statistics of one interval; only valid values (flag absent, N, S or T) count."""

    start: ShanghaiTime = Field(description="Interval start (inclusive)")
    end: ShanghaiTime = Field(description="Interval end (exclusive)")
    avg: float | None = Field(description="Mean of valid values (均值); null if none")
    min: float | None
    max: float | None
    count: int = Field(description="Valid values in the interval (有效数据个数)")
    invalid: int = Field(description="Values flagged F, M, D, C or B (无效数据个数), left out")


class _Series(_Out):
    site_id: str
    node_id: str | None = Field(description="The node asked for; null for all the site's nodes")
    metric: str
    unit: str
    start: ShanghaiTime = Field(description="Window start (inclusive)")
    end: ShanghaiTime = Field(description="Window end (exclusive)")
    limit: int = Field(description="Most rows this response could hold")
    truncated: bool = Field(description="More rows matched than `limit`; narrow the window")


class RawSeries(_Series):
    """Stored points of one metric, oldest first."""

    kind: Literal["raw"] = "raw"
    points: list[ReadingPoint]


class BucketSeries(_Series):
    """One metric aggregated per interval (aligned to Asia/Shanghai midnight), oldest first."""

    kind: Literal["buckets"] = "buckets"
    bucket: str = Field(description="The interval as an ISO 8601 duration", examples=["PT15M"])
    bucket_seconds: int
    buckets: list[Bucket] = Field(description="Intervals holding at least one value")


Series = Annotated[RawSeries | BucketSeries, Field(discriminator="kind")]


class DeadLetter(_Out):
    """A refused message (死信), kept with the reason."""

    id: int
    fingerprint: str = Field(description="Hex digest that makes a resent message count once")
    source: str = Field(description="Who refused it: a gateway id or the ingest")
    topic: str
    reason: str
    payload: str = Field(description="The message as received, in `encoding`")
    encoding: Literal["utf-8", "base64"]
    received_at: ShanghaiTime = Field(description="When the refusing component received it")
    stored_at: ShanghaiTime = Field(description="When the cloud stored it")


class DeadLetters(_Out):
    """Dead letters, newest first."""

    count: int = Field(description="Dead letters matching the filters (all, not only these)")
    items: list[DeadLetter]


class Health(_Out):
    """Whether the API and its database work."""

    status: Literal["ok", "unavailable"]
    database: str = Field(description='"ok", or why the database cannot be used')
    ingest: str = Field(
        default="ok",
        description='"ok", or which ingest workers are stalled or silent, and why',
    )
    timescaledb: bool | None = Field(description="TimescaleDB installed; null if unknown")
    schema_version: int | None = Field(description="Newest migration applied; null if none")
    server_version: str | None = Field(description="PostgreSQL server version")
    version: str = Field(description="envgrid version")
    time: ShanghaiTime = Field(description="The API's clock")
    ingest_lag_s: float | None = Field(
        default=None, description="Largest lag of live ingest workers; null if none reports"
    )
    dead_letters_last_hour: int | None = Field(default=None, description="Refusals lately")
    gateway_pending: int | None = Field(
        default=None, description="Messages queued in online gateways, as they last reported"
    )


class IngestWorker(_Out):
    """One ingest worker's counters, as it last recorded them."""

    client_id: str = Field(description="Its fixed MQTT client id")
    host: str
    pid: int
    received: int
    stored: int = Field(description="Readings newly stored")
    duplicates: int = Field(description="Readings received again and not stored twice")
    dead_lettered: int
    batches: int
    lag_s: float = Field(
        description="Age of the oldest message the broker gave it that it has not yet "
        "committed and acknowledged (入库延迟)"
    )
    held: int = Field(description="Messages received and not yet acknowledged")
    state: Literal["running", "stalled", "stopped"] = Field(
        description="stalled: it holds messages and has committed nothing for "
        "ENVGRID_INGEST_STALL_S; stopped: it stopped cleanly"
    )
    reason: str | None = Field(description="Why it is stalled")
    reconnects: int = Field(description="Times it had to connect to the broker again")
    last_received_at: ShanghaiTime | None = Field(description="When a message last came")
    last_commit_at: ShanghaiTime | None
    started_at: ShanghaiTime
    updated_at: ShanghaiTime = Field(description="When it last reported")
    live: bool = Field(description="Reported within the last 30 seconds")


class Gateway(_Out):
    """A township gateway's last reported status."""

    id: str
    state: Literal["online", "offline"]
    counters: dict[str, int] = Field(
        description="Its counters: received, forwarded, dead_lettered, pending (queue depth), …"
    )
    reported_at: ShanghaiTime | None = Field(description="The gateway's own time of the report")
    updated_at: ShanghaiTime = Field(description="When the cloud stored it")


class DeadLetterSummary(_Out):
    """How many messages were refused."""

    total: int
    last_hour: int
    newest: ShanghaiTime | None


class PipelineStatus(_Out):
    """The pipeline at a glance: ingest workers, gateways, dead letters."""

    ingest_lag_s: float | None = Field(description="Largest lag among live workers; null if none")
    workers: list[IngestWorker]
    gateways: list[Gateway]
    dead_letters: DeadLetterSummary
