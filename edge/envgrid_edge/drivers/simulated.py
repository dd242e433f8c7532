"""A virtual instrument: the signals `envgrid sim` plays, for one kind of site."""

from __future__ import annotations

import random
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from envgrid_common.messages import MetricName
from envgrid_common.signals import PROFILES, NodeSignals
from envgrid_edge.drivers.base import DriverError, Sample


class SimulatedConfig(BaseModel):
    """Which simulator profile to play, and how this node differs from others of its kind."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["simulated"]
    profile: str = Field(description="farm_effluent, farm_air, river, refuse_point, road_pm")
    metrics: list[MetricName] | None = Field(default=None, description="a subset; default all")
    seed: int = 0
    load: float = Field(default=1.0, gt=0, description="how big the source is (1 = typical)")
    phase_h: float = Field(default=0.0, description="shift of the daily cycle, hours")
    fail_rate: float = Field(default=0.0, ge=0, le=1, description="share of reads that fail")

    @field_validator("profile")
    @classmethod
    def _known_profile(cls, name: str) -> str:
        if name not in PROFILES:
            raise ValueError(f"unknown profile {name!r}; choose from {', '.join(PROFILES)}")
        return name

    @model_validator(mode="after")
    def _measured(self) -> SimulatedConfig:
        if self.metrics is not None:
            measured = PROFILES[self.profile].signals
            missing = [m for m in self.metrics if m not in measured]
            if missing or not self.metrics:
                raise ValueError(
                    f"metrics: profile {self.profile} measures {', '.join(measured)}"
                    + (f", not {', '.join(missing)}" if missing else "")
                )
        return self


class SimulatedDriver:
    """Values from :class:`envgrid_common.signals.NodeSignals`, deterministic per node and time."""

    def __init__(self, config: SimulatedConfig, node_id: str) -> None:
        profile = PROFILES[config.profile]
        wanted = config.metrics or list(profile.signals)
        signals = {m: s for m, s in profile.signals.items() if m in wanted}
        self.signals = NodeSignals(
            node_id, signals, seed=config.seed, load=config.load, phase_h=config.phase_h
        )
        self._fail_rate = config.fail_rate
        self._random = random.Random(f"{config.seed}:{node_id}")

    def read(self, at: datetime) -> Sample:
        """The signals at ``at``; sometimes a failure, if ``fail_rate`` says so."""
        if self._fail_rate and self._random.random() < self._fail_rate:
            raise DriverError("simulated read failure")
        values = self.signals.sample(at)
        self.signals.forget_before(at)
        return Sample(values)

    def close(self) -> None:
        """Nothing to release."""
