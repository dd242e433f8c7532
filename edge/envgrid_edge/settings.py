"""Edge agent settings: ``ENVGRID_`` variables or the YAML file in ``ENVGRID_CONFIG``."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from envgrid_common.settings import EnvgridSettings


class EdgeSettings(EnvgridSettings):
    """What a node file leaves out: the broker, the topic root and the log level."""

    # An empty variable counts as unset, as it did when the agent read its environment by hand.
    model_config = SettingsConfigDict(env_ignore_empty=True)
