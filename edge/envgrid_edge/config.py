"""A node's configuration file (YAML), validated with errors an installer can act on."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from envgrid_common.messages import Identifier
from envgrid_common.mqtt import BrokerAddress
from envgrid_common.outbox.sender import DEFAULT_WINDOW
from envgrid_common.outbox.store import Bounds, Durability
from envgrid_common.paths import default_data_dir
from envgrid_common.topics import Topics
from envgrid_edge.drivers.modbus import ModbusConfig
from envgrid_edge.drivers.simulated import SimulatedConfig
from envgrid_edge.settings import EdgeSettings

DriverConfig = Annotated[SimulatedConfig | ModbusConfig, Field(discriminator="type")]
_MB = 1024 * 1024


AgentT = TypeVar("AgentT", bound="AgentConfig")


class ConfigError(ValueError):
    """A configuration file that cannot be used; the message lists every problem."""


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OutboxConfig(_Config):
    """Where the node keeps unsent messages, and how much before it drops old readings."""

    path: Path | None = Field(default=None, description="default: {data dir}/edge/{node}.sqlite")
    max_rows: int = Field(default=500_000, ge=1)
    max_mb: float = Field(default=100.0, gt=0)
    max_age_h: float = Field(default=720.0, gt=0)
    durability: Durability = "full"
    window: int = Field(default=DEFAULT_WINDOW, ge=1, le=65535, description="max in flight")

    @property
    def bounds(self) -> Bounds:
        """The outbox's limits."""
        return Bounds(
            max_rows=self.max_rows,
            max_bytes=int(self.max_mb * _MB),
            max_age_s=self.max_age_h * 3600,
        )


class AgentConfig(_Config):
    """What every edge agent's file says: who the node is, where it reports, its outbox."""

    node_id: Identifier
    # No defaults here: what the file leaves out comes from EdgeSettings (see parse_config).
    mqtt_url: str = Field(description="township broker; default ENVGRID_MQTT_URL")
    topic_root: str = Field(description="default ENVGRID_TOPIC_ROOT, else envgrid")
    client_id: str | None = Field(default=None, description="MQTT client id; default node_id")
    utc_offset_h: float = Field(default=8.0, ge=-12, le=14, description="offset stamped on ts")
    progress_interval_s: float = Field(default=60.0, gt=0)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        description="default ENVGRID_LOG_LEVEL, else INFO"
    )
    outbox: OutboxConfig = OutboxConfig()

    @field_validator("mqtt_url")
    @classmethod
    def _broker(cls, url: str) -> str:
        BrokerAddress.parse(url)
        return url

    @field_validator("topic_root")
    @classmethod
    def _root(cls, root: str) -> str:
        Topics(root)
        return root

    @property
    def address(self) -> BrokerAddress:
        """The broker."""
        return BrokerAddress.parse(self.mqtt_url)

    @property
    def topics(self) -> Topics:
        """The topic grammar under ``topic_root``."""
        return Topics(self.topic_root)

    @property
    def outbox_path(self) -> Path:
        """Where the outbox file is."""
        return self.outbox.path or default_data_dir() / "edge" / f"{self.node_id}.sqlite"


class NodeConfig(AgentConfig):
    """A sensor node: what it reads and how often."""

    kind: Literal["sensor"] = "sensor"
    poll_interval_s: float = Field(default=60.0, ge=0.01, le=86400)
    align: bool = Field(default=True, description="poll on whole multiples of the interval")
    driver: DriverConfig


def describe(error: ValidationError) -> str:
    """Every problem on its own line: ``driver.modbus.metrics.cod.unit: …``."""
    lines = []
    for item in error.errors(include_url=False):
        where = ".".join(str(p) for p in item["loc"]) or "(file)"
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"  {where}: {message}")
    return "\n".join(lines)


def load_settings() -> EdgeSettings:
    """The ``ENVGRID_`` settings, or a ConfigError naming what is wrong with them."""
    try:
        return EdgeSettings()
    except ValidationError as error:
        raise ConfigError(f"ENVGRID_ variables or ENVGRID_CONFIG:\n{describe(error)}") from None
    except FileNotFoundError as error:
        raise ConfigError(str(error)) from None


def _from_settings(settings: EdgeSettings) -> dict[str, Any]:
    return {
        "mqtt_url": settings.mqtt_url,
        "topic_root": settings.topic_root,
        "log_level": settings.log_level.upper(),
    }


def parse_config(
    data: Any, base_dir: Path | None = None, settings: EdgeSettings | None = None
) -> NodeConfig:
    """Validate a sensor node's YAML document (see :func:`parse_agent_config`)."""
    return parse_agent_config(NodeConfig, data, base_dir, settings)


def parse_agent_config(
    model: type[AgentT],
    data: Any,
    base_dir: Path | None = None,
    settings: EdgeSettings | None = None,
) -> AgentT:
    """Validate a YAML document, gaps filled from ``settings``, outbox paths from ``base_dir``."""
    if not isinstance(data, dict):
        raise ConfigError("expected a mapping of settings (node_id: …, driver: …)")
    defaults = _from_settings(settings or load_settings())
    try:
        config = model.model_validate(_merged(defaults, data))
    except ValidationError as error:
        raise ConfigError(f"{error.error_count()} problem(s):\n{describe(error)}") from None
    path = config.outbox.path
    if path is not None and base_dir is not None and not path.is_absolute():
        outbox = config.outbox.model_copy(update={"path": base_dir / path})
        config = config.model_copy(update={"outbox": outbox})
    return config


def _merged(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_config(
    path: Path, overrides: dict[str, Any] | None = None, settings: EdgeSettings | None = None
) -> NodeConfig:
    """Read and validate a sensor node's YAML file; ``overrides`` (command-line options) win."""
    return load_agent_config(NodeConfig, path, overrides, settings)


def load_agent_config(
    model: type[AgentT],
    path: Path,
    overrides: dict[str, Any] | None = None,
    settings: EdgeSettings | None = None,
) -> AgentT:
    """Read and validate an agent's YAML file; ``overrides`` (command-line options) win."""
    settings = settings or load_settings()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"{path}: {error.strerror or error}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    if isinstance(data, dict):
        data = _merged(data, overrides or {})
    try:
        return parse_agent_config(model, data, path.parent.resolve(), settings)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None
