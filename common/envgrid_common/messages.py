"""Wire messages, contract v1: what nodes, gateways and the cloud say to one another over MQTT."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from envgrid_common.metrics import METRICS

CONTRACT_VERSION = 1
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
MAX_SEQ = 2**63 - 1


class DataFlag(StrEnum):
    """HJ 212-2017 data flags (表 8); only N, S and T values may count as measurements."""

    NORMAL = "N"
    STOPPED = "F"
    MAINTENANCE = "M"
    MANUAL = "S"
    FAULT = "D"
    CALIBRATION = "C"
    ABOVE_RANGE = "T"
    COMM_FAULT = "B"


def _known_metric(name: str) -> str:
    if name not in METRICS:
        raise ValueError(f"unknown metric {name!r} (see docs/protocol.md for the catalogue)")
    return name


MetricName = Annotated[str, AfterValidator(_known_metric)]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
Seq = Annotated[int, Field(ge=0, le=MAX_SEQ)]
Identifier = Annotated[str, Field(pattern=ID_PATTERN)]


class _Message(BaseModel):
    # Strict: "42" is not a sequence number and "1.5" is not a value; unknown fields are typos.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Reading(_Message):
    """One measurement instant of one node: ``envgrid/v1/nodes/{node_id}/readings``."""

    seq: Seq
    ts: AwareDatetime
    values: dict[MetricName, FiniteFloat] = Field(min_length=1, max_length=64)
    flags: dict[MetricName, DataFlag] | None = None
    historical: bool = False

    @model_validator(mode="after")
    def _flags_name_values(self) -> Reading:
        if self.flags:
            stray = sorted(set(self.flags) - set(self.values))
            if stray:
                raise ValueError(f"flags for metrics without a value: {', '.join(stray)}")
        return self


class DetectionKind(StrEnum):
    """What a camera node saw."""

    SMOKE = "smoke"
    FLAME = "flame"


class DetectionPhase(StrEnum):
    """Where in its life an incident is: one ``new``, any ``update``s, one ``end``."""

    NEW = "new"
    UPDATE = "update"
    END = "end"


class Detection(_Message):
    """A camera incident message: ``envgrid/v1/nodes/{node_id}/detections``."""

    seq: Seq
    ts: AwareDatetime
    event_id: Identifier
    kind: DetectionKind
    phase: DetectionPhase
    confidence: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
    bbox: tuple[int, int, int, int] | None = None
    has_snapshot: bool = False
    historical: bool = False


class NodeState(StrEnum):
    """Liveness as published retained on a status topic (and as the Last Will)."""

    ONLINE = "online"
    OFFLINE = "offline"


class NodeStatus(_Message):
    """Retained liveness of a node: ``envgrid/v1/nodes/{node_id}/status``."""

    state: NodeState
    ts: AwareDatetime | None = None
    kind: Literal["sensor", "camera"] | None = None


class GatewayStatus(_Message):
    """Retained liveness and counters of a gateway: ``envgrid/v1/gateways/{id}/status``."""

    state: NodeState
    ts: AwareDatetime | None = None
    counters: dict[str, int] = Field(default_factory=dict)


class DeadLetter(_Message):
    """A refused message, kept with the reason: ``envgrid/v1/deadletter/{source}``."""

    source: Identifier
    topic: str = Field(max_length=1024)
    reason: str = Field(max_length=2000)
    payload: str
    encoding: Literal["utf-8", "base64"]
    received_at: datetime
