"""AQI rules (HJ 633-2012): IAQI per pollutant from a versioned breakpoint table, AQI = max.

IAQI_P = (IAQI_Hi − IAQI_Lo) / (BP_Hi − BP_Lo) × (C_P − BP_Lo) + IAQI_Lo, rounded up to an
integer as implementations do. A concentration above a scale's last breakpoint moves to the
scale it names as ``beyond`` (SO2 1 h → 24 h, O3 8 h → 1 h), or else is IAQI 500. The primary
pollutants are those with the largest IAQI when the AQI is above 50.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from envgrid_cloud.observations import ReadingRecord
from envgrid_cloud.rules.base import State, Step, is_stale, valid_value
from envgrid_cloud.rules.episode import judge, judge_late
from envgrid_cloud.rules.model import AqiRule, RuleError, explain

TABLES = "envgrid_cloud.rules.data.aqi"
PRIMARY_ABOVE = 50


def _increasing(values: tuple[float, ...]) -> bool:
    return all(a < b for a, b in itertools.pairwise(values))


class Scale(BaseModel):
    """One pollutant's breakpoints at one averaging time."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    unit: str
    breakpoints: Annotated[tuple[float, ...], Field(min_length=2)]
    beyond: str | None = None

    @model_validator(mode="after")
    def _increasing(self) -> Scale:
        if not _increasing(self.breakpoints):
            raise ValueError("breakpoints must increase")
        return self


class AqiTable(BaseModel):
    """A versioned IAQI table: scales, and the scale each metric is judged on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    table: str
    source: str
    iaqi: Annotated[tuple[float, ...], Field(min_length=2)]
    pollutants: dict[str, Scale]
    metrics: dict[str, str]

    @model_validator(mode="after")
    def _consistent(self) -> AqiTable:
        if not _increasing(self.iaqi):
            raise ValueError("iaqi levels must increase")
        for name, scale in self.pollutants.items():
            if len(scale.breakpoints) > len(self.iaqi):
                raise ValueError(f"{name}: more breakpoints than IAQI levels")
            if scale.beyond is not None and scale.beyond not in self.pollutants:
                raise ValueError(f"{name}: 'beyond' names unknown scale {scale.beyond!r}")
        for metric, name in self.metrics.items():
            if name not in self.pollutants:
                raise ValueError(f"metric {metric}: unknown scale {name!r}")
        return self

    def iaqi_of(self, metric: str, concentration: float) -> int:
        """The IAQI of ``metric`` at ``concentration``, rounded up."""
        return _iaqi(self, self.metrics[metric], max(concentration, 0.0))


def _iaqi(table: AqiTable, scale_name: str, c: float) -> int:
    scale = table.pollutants[scale_name]
    bp = scale.breakpoints
    if c > bp[-1]:
        if scale.beyond is not None:
            return _iaqi(table, scale.beyond, c)
        return math.ceil(table.iaqi[len(bp) - 1])
    for i in range(len(bp) - 1):
        if c <= bp[i + 1]:
            lo_c, hi_c = bp[i], bp[i + 1]
            lo_i, hi_i = table.iaqi[i], table.iaqi[i + 1]
            exact = (hi_i - lo_i) / (hi_c - lo_c) * (c - lo_c) + lo_i
            # Round away float noise first: 115 µg/m³ PM2.5 is IAQI 150, not 151.
            return math.ceil(round(exact, 6))
    raise AssertionError("unreachable: c is within the breakpoints")


@cache
def load_table(name: str) -> AqiTable:
    """The shipped table ``name`` (e.g. ``hj633-2012``), validated; ``RuleError`` otherwise."""
    entry = resources.files(TABLES) / f"{name}.yaml"
    if not entry.is_file():
        raise RuleError(f"AQI table {name!r}: no file data/aqi/{name}.yaml")
    try:
        table = AqiTable.model_validate(yaml.safe_load(entry.read_text(encoding="utf-8")))
    except ValidationError as exc:
        raise RuleError(f"AQI table {name}.yaml: {explain(exc)}") from None
    if table.table != name:
        raise RuleError(f"AQI table {name}.yaml: says it is table {table.table!r}")
    return table


def aqi(table: AqiTable, concentrations: Mapping[str, float]) -> tuple[int, dict[str, int]]:
    """The AQI and each pollutant's IAQI for concentrations of metrics the table knows."""
    iaqis = {m: table.iaqi_of(m, c) for m, c in concentrations.items() if m in table.metrics}
    return max(iaqis.values(), default=0), iaqis


def primary(value: int, iaqis: Mapping[str, int]) -> list[str]:
    """The primary pollutants: those with the largest IAQI, when the AQI is above 50."""
    if value <= PRIMARY_ABOVE:
        return []
    return sorted(m for m, i in iaqis.items() if i == value)


def evaluate(rule: AqiRule, state: State | None, sample: ReadingRecord) -> Step:
    """Judge one sample's AQI over the rule's metrics that it carries as valid values."""
    values = {m: v for m in rule.metrics if (v := valid_value(sample, m)) is not None}
    if not values:
        return Step(state)
    value, iaqis = aqi(load_table(rule.table), values)
    breaching = value > rule.above
    detail: dict[str, Any] = {
        "aqi": value,
        "iaqi": iaqis,
        "primary": primary(value, iaqis),
        "concentrations": values,
        "limit": rule.above,
        "table": rule.table,
    }
    if is_stale(state, sample.ts, sample.seq):
        if rule.hold_s > 0:
            return Step(state)
        return judge_late(
            state, sample.ts, breaching=breaching, metric="aqi", value=float(value), detail=detail
        )
    return judge(
        state,
        sample.ts,
        sample.seq,
        breaching=breaching,
        hold_s=rule.hold_s,
        metric="aqi",
        value=float(value),
        detail=detail,
    )
