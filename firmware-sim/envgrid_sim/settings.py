"""Simulator settings (``ENVGRID_SIM_*`` variables or the YAML file in ``ENVGRID_CONFIG``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from envgrid_common.settings import EnvgridSettings, default_data_dir
from envgrid_sim.hj212.build import parse_address


def _default_sim_dir() -> Path:
    return default_data_dir() / "sim"


class SimSettings(EnvgridSettings):
    """What a simulated township needs besides the broker address."""

    sim_scenario: str = Field(
        default="luxi", description="Scenario to run: a shipped one by name, or a .yaml file"
    )
    sim_report_interval_s: float = Field(
        default=5.0, gt=0, description="Seconds between two readings of a node"
    )
    sim_data_dir: Path = Field(
        default_factory=_default_sim_dir,
        description="Where the outbox (messages not yet sent, next seq per node) is kept",
    )
    sim_seed: int = Field(default=0, description="Seed of the signals (same seed, same values)")
    sim_nodes: int | None = Field(
        default=None, ge=1, description="Run only this many nodes (a mix of every kind)"
    )
    sim_client_id_prefix: str = Field(
        default="",
        description="Prefix of MQTT client ids (node id otherwise); lets two runs share a broker",
    )
    sim_progress_interval_s: float = Field(
        default=30.0, gt=0, description="Seconds between progress lines"
    )
    sim_reconnect_max_s: float = Field(
        default=30.0, gt=0, description="Longest wait between reconnection attempts"
    )
    sim_publish_timeout_s: float = Field(
        default=10.0, gt=0, description="How long to wait for the broker to acknowledge"
    )
    sim_outbox_window: int = Field(
        default=20, ge=1, description="Messages in flight (awaiting PUBACK) per node"
    )
    sim_outbox_max_rows: int = Field(
        default=2_000_000, ge=1, description="Messages the outbox holds before dropping readings"
    )
    sim_outbox_max_bytes: int = Field(
        default=1024 * 1024 * 1024, ge=1, description="Bytes the outbox holds before dropping"
    )
    sim_cameras: bool = Field(
        default=False,
        description="Also run the scenario's camera nodes (and add them and their sites to it)",
    )
    sim_camera_host: str = Field(
        default="127.0.0.1", description="Address the virtual cameras listen on"
    )
    sim_camera_port: int = Field(
        default=8090,
        ge=0,
        le=65535,
        description="Port of the first virtual camera (the next ones count up); 0: any free port",
    )
    sim_camera_width: int = Field(default=640, ge=64, description="Width of camera frames")
    sim_camera_height: int = Field(default=480, ge=48, description="Height of camera frames")
    sim_camera_fps: float = Field(default=10.0, gt=0, description="Frames per second of cameras")
    sim_hj212_to: str | None = Field(
        default=None,
        description=(
            "HOST:PORT of the gateway's HJ 212 listener: run the scenario's HJ 212 stations "
            "against it (without it they are not run)"
        ),
    )
    sim_outbox_max_age_s: float = Field(
        default=7 * 86400.0, gt=0, description="Readings older than this are dropped unsent"
    )
    sim_scale: bool = Field(
        default=False,
        description=(
            "Scale mode: thousands of nodes on one event loop, readings held in memory (not the "
            "disk outbox) while the broker is away"
        ),
    )
    sim_connections: int = Field(
        default=0,
        ge=0,
        description=(
            "Scale mode: 0 gives every node its own MQTT session and Last Will; N multiplexes "
            "the nodes over N connections"
        ),
    )
    sim_jitter_s: float = Field(
        default=0.2,
        ge=0,
        description="Scale mode: spread (s.d., seconds) of readings around their slot",
    )
    sim_clock_skew_s: float = Field(
        default=2.0,
        ge=0,
        description="Scale mode: spread (s.d., seconds) of the nodes' clock offsets",
    )
    sim_backlog: int = Field(
        default=360, ge=1, description="Scale mode: readings a node holds in memory while offline"
    )

    @field_validator("sim_hj212_to")
    @classmethod
    def _address(cls, value: str | None) -> str | None:
        if value is not None:
            parse_address(value)
        return value

    @property
    def hj212_address(self) -> tuple[str, int] | None:
        """Where the stations connect, or None when they are not run."""
        return parse_address(self.sim_hj212_to) if self.sim_hj212_to else None
