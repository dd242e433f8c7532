"""Settings shared by every component: ``ENVGRID_`` environment variables, or a YAML file."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from envgrid_common.paths import default_data_dir
from envgrid_common.topics import DEFAULT_ROOT, Topics

__all__ = ["EnvgridSettings", "default_data_dir"]

CONFIG_FILE_VARIABLE = "ENVGRID_CONFIG"


class EnvgridSettings(BaseSettings):
    """Base for component settings: environment first, then the YAML file in ``ENVGRID_CONFIG``."""

    model_config = SettingsConfigDict(env_prefix="ENVGRID_", extra="ignore")

    mqtt_url: str = Field(
        default="mqtt://127.0.0.1:1883",
        description=(
            "Broker this component talks to: mqtt://[user:password@]host[:port]"
            " (add ?protocol=3.1.1 for brokers without MQTT 5)"
        ),
    )
    topic_root: str = Field(
        default=DEFAULT_ROOT, description="First topic level(s) before /v1 (tests use their own)"
    )
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR")
    stop_timeout_s: float = Field(
        default=5.0,
        gt=0,
        le=600,
        description="How long a stop may take: drain, then terminate, then kill what is left",
    )

    @property
    def topics(self) -> Topics:
        """The topic grammar under this root."""
        return Topics(self.topic_root)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then environment, then the YAML file if one is named."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get(CONFIG_FILE_VARIABLE)
        if config_file:
            if not Path(config_file).is_file():
                raise FileNotFoundError(f"{CONFIG_FILE_VARIABLE}={config_file}: no such file")
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=config_file))
        return tuple(sources)
