"""A camera node's file (YAML): its source, how much it analyses, where it must not look."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from envgrid_edge.config import AgentConfig, ConfigError, load_agent_config
from envgrid_edge.config import parse_agent_config as _parse
from envgrid_edge.settings import EdgeSettings

__all__ = [
    "AnalysisConfig",
    "CameraConfig",
    "ConfigError",
    "DeviceSource",
    "FileSource",
    "FolderSource",
    "MaskConfig",
    "Polygon",
    "SnapshotConfig",
    "SourceConfig",
    "StreamSource",
    "load_camera_config",
    "parse_camera_config",
]

Point = tuple[float, float]


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Reconnecting(_Config):
    reconnect_min_s: float = Field(default=1.0, gt=0, le=600, description="first retry delay")
    reconnect_max_s: float = Field(default=30.0, gt=0, le=3600, description="longest delay")
    open_timeout_s: float = Field(default=10.0, gt=0, le=600)
    read_timeout_s: float = Field(default=10.0, gt=0, le=600, description="no frame: stream lost")

    @model_validator(mode="after")
    def _ordered(self) -> _Reconnecting:
        if self.reconnect_max_s < self.reconnect_min_s:
            raise ValueError("reconnect_max_s must not be below reconnect_min_s")
        return self


class StreamSource(_Reconnecting):
    """A network camera: RTSP, or HTTP (MJPEG and what else FFmpeg reads), through FFmpeg."""

    type: Literal["stream"]
    url: str = Field(description="rtsp://user:pass@host:554/… or http://host/video.mjpg")
    rtsp_transport: Literal["tcp", "udp"] = "tcp"

    @field_validator("url")
    @classmethod
    def _scheme(cls, url: str) -> str:
        scheme = url.partition("://")[0].lower()
        if scheme not in {"rtsp", "rtsps", "http", "https"}:
            raise ValueError("expected an rtsp://, rtsps://, http:// or https:// URL")
        return url


class DeviceSource(_Reconnecting):
    """A local camera: ``/dev/video0`` or its index (0)."""

    type: Literal["device"]
    device: int | str = Field(description="index (0) or path (/dev/video0)")
    width: int | None = Field(default=None, ge=16, description="ask the device for this width")
    height: int | None = Field(default=None, ge=16)
    fps: float | None = Field(default=None, gt=0)

    @field_validator("device")
    @classmethod
    def _index(cls, device: int | str) -> int | str:
        # "0" from a command line or a quoted YAML value is an index, not a file called 0.
        return int(device) if isinstance(device, str) and device.isdigit() else device


class FileSource(_Config):
    """A video file, played at its own pace (``realtime``) or as fast as it is analysed."""

    type: Literal["file"]
    path: Path
    loop: bool = False
    realtime: bool = Field(default=True, description="false: as fast as the analysis goes")


class FolderSource(_Config):
    """Still images in a folder, in name order, as frames at ``rate_fps``."""

    type: Literal["folder"]
    path: Path
    rate_fps: float = Field(default=1.0, gt=0, le=120)
    loop: bool = False
    realtime: bool = Field(default=True, description="false: as fast as the analysis goes")
    extensions: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


SourceConfig = Annotated[
    StreamSource | DeviceSource | FileSource | FolderSource, Field(discriminator="type")
]


class AnalysisConfig(_Config):
    """How much of the source the detector sees: frames per second and their size."""

    rate_fps: float = Field(default=5.0, gt=0, le=60, description="frames analysed per second")
    width: int = Field(default=640, ge=32, le=7680, description="analysed frame width")
    height: int | None = Field(
        default=None, ge=32, le=4320, description="default: the source's aspect ratio"
    )


class Polygon(_Config):
    """One area the detector must not look at (sky, a road, a known chimney)."""

    name: str = ""
    points: list[Point] = Field(min_length=3)


class MaskConfig(_Config):
    """Areas to ignore, as polygons in ``units`` of the camera's own frame."""

    units: Literal["fraction", "px"] = Field(
        default="fraction",
        description="fraction: 0..1 of width and height (survives a change of resolution); "
        "px: pixels of the camera's own frames",
    )
    ignore: list[Polygon] = Field(default_factory=list)

    @model_validator(mode="after")
    def _in_frame(self) -> MaskConfig:
        if self.units == "fraction":
            for number, polygon in enumerate(self.ignore):
                if any(not (0 <= v <= 1) for point in polygon.points for v in point):
                    label = polygon.name or f"#{number + 1}"
                    raise ValueError(f"polygon {label}: fractions must be within 0..1")
        return self


class SnapshotConfig(_Config):
    """The evidence JPEG: its quality and the most it may weigh on the wire."""

    quality: int = Field(default=85, ge=10, le=100)
    max_kb: int = Field(default=300, ge=8, le=8192, description="the contract allows 8 MiB")

    @property
    def max_bytes(self) -> int:
        """The size limit in bytes."""
        return self.max_kb * 1024


class CameraConfig(AgentConfig):
    """A camera node: a source, the analysis, masks, the detector's own settings."""

    kind: Literal["camera"] = "camera"
    source: SourceConfig
    analysis: AnalysisConfig = AnalysisConfig()
    masks: MaskConfig = MaskConfig()
    detector: dict[str, Any] = Field(
        default_factory=dict,
        description="the detector's settings (envgrid_edge.camera.detector.DetectorConfig)",
    )
    snapshot: SnapshotConfig = SnapshotConfig()
    progress_interval_s: float = Field(default=60.0, gt=0, description="health line period")

    @field_validator("detector")
    @classmethod
    def _detector_settings(cls, value: dict[str, Any]) -> dict[str, Any]:
        # Checked with the file (exit 2 and the field named), not at the first frame.
        from pydantic import ValidationError

        from envgrid_edge.camera.detector.config import DetectorConfig

        try:
            DetectorConfig.model_validate(value)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()
            )
            raise ValueError(problems) from None
        return value


def _resolved(config: CameraConfig, base_dir: Path | None) -> CameraConfig:
    """Relative file and folder paths taken from the node file's folder."""
    source = config.source
    if base_dir is None or not isinstance(source, FileSource | FolderSource):
        return config
    if source.path.is_absolute():
        return config
    return config.model_copy(
        update={"source": source.model_copy(update={"path": base_dir / source.path})}
    )


def parse_camera_config(
    data: Any, base_dir: Path | None = None, settings: EdgeSettings | None = None
) -> CameraConfig:
    """Validate a camera node's YAML document; relative paths are taken from ``base_dir``."""
    return _resolved(_parse(CameraConfig, data, base_dir, settings), base_dir)


def load_camera_config(
    path: Path, overrides: dict[str, Any] | None = None, settings: EdgeSettings | None = None
) -> CameraConfig:
    """Read and validate a camera node's YAML file; ``overrides`` (command-line options) win."""
    config = load_agent_config(CameraConfig, path, overrides, settings)
    return _resolved(config, path.parent.resolve())
