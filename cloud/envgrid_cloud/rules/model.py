"""Rule definitions: what a rule pack says, one pydantic model per rule type."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from envgrid_cloud.cases.model import Severity
from envgrid_common.messages import DetectionKind
from envgrid_common.metrics import METRICS

RULE_ID_PATTERN = r"^[a-z0-9][a-z0-9_]{0,63}$"


class RuleError(ValueError):
    """A rule pack, a rule or a site's override of it is wrong; the message says where."""


def _known_metric(name: str) -> str:
    if name not in METRICS:
        raise ValueError(f"unknown metric {name!r}")
    return name


MetricName = Annotated[str, AfterValidator(_known_metric)]
Seconds = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Limit = Annotated[float, Field(allow_inf_nan=False)]


class _Rule(BaseModel):
    # Packs and overrides are typed by people: an unknown key is a typo, never ignored.
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, Field(pattern=RULE_ID_PATTERN)]
    severity: Severity
    title: Annotated[str, Field(min_length=1, max_length=200)]
    enabled: bool = True
    basis: str | None = None  # the standard and clause the limit comes from, for the case file


class ThresholdRule(_Rule):
    """A value beyond ``above`` or ``below`` (both: a band such as pH 6–9), optionally held."""

    type: Literal["threshold"] = "threshold"
    metric: MetricName
    above: Limit | None = None
    below: Limit | None = None
    hold_s: Seconds = 0.0

    @model_validator(mode="after")
    def _one_side_at_least(self) -> ThresholdRule:
        if self.above is None and self.below is None:
            raise ValueError("a threshold needs 'above', 'below' or both")
        if self.above is not None and self.below is not None and self.below >= self.above:
            raise ValueError("'below' must be less than 'above'")
        return self


class RateOfChangeRule(_Rule):
    """A change of more than ``max_change`` within ``per_s`` seconds."""

    type: Literal["rate_of_change"] = "rate_of_change"
    metric: MetricName
    max_change: Positive
    per_s: Positive
    direction: Literal["rise", "fall", "both"] = "both"


class StuckRule(_Rule):
    """A value that stays within ``tolerance`` too long (恒值), allowing for analyser cycles."""

    type: Literal["stuck"] = "stuck"
    metric: MetricName
    window_s: Positive
    tolerance: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    min_samples: Annotated[int, Field(ge=2)] = 3
    # COD and NH3-N analysers repeat one result for a whole measuring cycle (STANDARDS.md §4.4).
    sample_cycle_s: Seconds = 0.0
    min_cycles: Annotated[int, Field(ge=1)] = 3

    @property
    def span_s(self) -> float:
        """How long the value must stay put: the window, and at least ``min_cycles`` cycles."""
        return max(self.window_s, self.min_cycles * self.sample_cycle_s)


class DailyMeanRule(_Rule):
    """A calendar day's (Asia/Shanghai) mean above ``above``, judged once the day is over."""

    type: Literal["daily_mean"] = "daily_mean"
    metric: MetricName
    above: Limit
    min_samples: Annotated[int, Field(ge=1)] = 1


AQI_METRICS = ("pm25", "pm10", "so2", "no2", "co", "o3")


class AqiRule(_Rule):
    """An air quality index (max of the pollutants' IAQI) above ``above``, optionally held."""

    type: Literal["aqi"] = "aqi"
    table: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.-]{0,63}$")] = "hj633-2012"
    metrics: Annotated[tuple[MetricName, ...], Field(min_length=1)] = AQI_METRICS
    above: Limit = 100.0
    hold_s: Seconds = 0.0


class NoDataRule(_Rule):
    """Nothing live from a node for ``tolerance`` × its reporting interval (a sweeper checks)."""

    type: Literal["no_data"] = "no_data"
    tolerance: Annotated[float, Field(ge=1, allow_inf_nan=False)] = 3.0


class OfflineRule(_Rule):
    """A node's status is offline (its Last Will, or its own goodbye)."""

    type: Literal["offline"] = "offline"


class DetectionRule(_Rule):
    """A camera incident of one of ``kinds`` seen with at least ``min_confidence``."""

    type: Literal["detection"] = "detection"
    kinds: Annotated[tuple[DetectionKind, ...], Field(min_length=1)]
    min_confidence: Annotated[float, Field(ge=0, le=1)] = 0.5


Rule = Annotated[
    ThresholdRule
    | RateOfChangeRule
    | StuckRule
    | DailyMeanRule
    | AqiRule
    | NoDataRule
    | OfflineRule
    | DetectionRule,
    Field(discriminator="type"),
]
RULE_TYPES = (
    "threshold",
    "rate_of_change",
    "stuck",
    "daily_mean",
    "aqi",
    "no_data",
    "offline",
    "detection",
)
_RULE: TypeAdapter[Rule] = TypeAdapter(Rule)


def parse_rule(fields: Any, where: str) -> Rule:
    """A rule from plain data; a ``RuleError`` naming ``where`` and every bad field otherwise."""
    try:
        return _RULE.validate_python(fields)
    except ValidationError as exc:
        raise RuleError(f"{where}: {explain(exc)}") from None


def explain(exc: ValidationError) -> str:
    """Pydantic's errors in one line: ``field: message; …`` (union branch names left out)."""
    parts = []
    for error in exc.errors(include_url=False):
        # The discriminated union puts the rule type first in the location: not a field.
        loc = ".".join(str(p) for p in error["loc"] if str(p) not in RULE_TYPES)
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {message}" if loc else message)
    return "; ".join(parts)
