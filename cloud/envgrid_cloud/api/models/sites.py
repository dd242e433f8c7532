"""Sites (重点污染源) as the API shows and takes them, with their rule overrides."""

from __future__ import annotations

import math
from typing import Annotated

from pydantic import AfterValidator, Field, JsonValue, model_validator

from envgrid_cloud.api.models.common import STRICT, In, Out, ShanghaiTime
from envgrid_cloud.api.models.nodes import Node
from envgrid_common.messages import Identifier
from envgrid_common.registry import (
    CensusRef,
    Latitude,
    Longitude,
    LongText,
    Name,
    SiteCategory,
    WaterClass,
    WaterType,
    water_details_problem,
)


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


class Site(Out):
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


class SiteDetail(Site):
    """A site with its nodes and the sites whose water flows into it."""

    upstream: list[str] = Field(description="Sites that list this one as downstream (上游)")
    nodes: list[Node]


class SiteRules(Out):
    """A site's changes to its category's rules."""

    site_id: str
    rule_overrides: RuleOverrides


class SiteUpdate(In):
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
