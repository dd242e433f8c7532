"""A scenario's camera nodes served together, with burns started by scenario incidents."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from envgrid_sim.camera.schedule import Schedule, background, burn_at
from envgrid_sim.camera.server import VirtualCamera
from envgrid_sim.clips import CLIPS
from envgrid_sim.scenario import CameraSpec

log = logging.getLogger("envgrid.sim.camera")

BURN = "burn"
CAMERAS_FILE = "cameras.json"  # node id → stream address, for whoever wires up the agents
BURN_HELP = (
    "CAMERA:burn[:START_S[:CLIP]] sets a field on fire in front of a camera node START_S "
    "seconds after start (default 60), e.g. luxi-field-01-cam:burn:120:burn-flame-day"
)


@dataclass(frozen=True, slots=True)
class BurnIncident:
    """A straw burn in front of one camera, igniting ``start_s`` after the cameras start."""

    camera_id: str
    start_s: float = 60.0
    clip: str | None = None  # a burn clip; None: the camera's own

    def __post_init__(self) -> None:
        if self.start_s < 0:
            raise ValueError(f"burn on {self.camera_id}: START_S cannot be negative")
        spec = CLIPS.get(self.clip) if self.clip is not None else None
        if self.clip is not None and (spec is None or not spec.burn):
            burns = ", ".join(n for n, s in CLIPS.items() if s.burn)
            raise ValueError(f"burn on {self.camera_id}: {self.clip!r} is not one of {burns}")


def parse_burn(spec: str) -> BurnIncident | None:
    """``CAMERA:burn[:START_S[:CLIP]]`` → a burn; None if ``spec`` is not a burn incident."""
    parts = spec.split(":")
    if len(parts) < 2 or parts[1] != BURN:
        return None
    if len(parts) > 4:
        raise ValueError(f"incident {spec!r}: expected CAMERA:burn[:START_S[:CLIP]]")
    try:
        start_s = float(parts[2]) if len(parts) > 2 else 60.0
    except ValueError:
        raise ValueError(f"incident {spec!r}: START_S is a number of seconds") from None
    return BurnIncident(parts[0], start_s, parts[3] if len(parts) > 3 else None)


@dataclass(frozen=True, slots=True)
class FleetOptions:
    """Where and how the cameras serve their streams."""

    host: str = "127.0.0.1"
    first_port: int = 8090  # camera i listens on first_port + i; 0: any free port each
    size: tuple[int, int] = (640, 480)
    fps: float = 10.0
    seed: int = 0


def schedule_for(spec: CameraSpec, burn: BurnIncident | None, options: FleetOptions) -> Schedule:
    """What one camera shows: its background, with the burn if there is one (once)."""
    seed, size, fps = options.seed, options.size, options.fps
    scene = spec.node.id  # every camera its own field, the same before, during and after
    if burn is None:
        return background(spec.background, scene=scene, seed=seed, size=size, fps=fps)
    return burn_at(
        burn.start_s,
        burn=burn.clip or spec.burn,
        background=spec.background,
        scene=scene,
        repeat=False,
        seed=seed,
        size=size,
        fps=fps,
    )


class CameraFleet:
    """Every camera node of a scenario as a virtual camera, started and stopped together."""

    def __init__(
        self,
        cameras: Sequence[CameraSpec],
        options: FleetOptions,
        burns: Sequence[BurnIncident] = (),
    ) -> None:
        known = {c.node.id for c in cameras}
        for burn in burns:
            if burn.camera_id not in known:
                choices = ", ".join(sorted(known)) or "none in this scenario"
                raise KeyError(f"no camera {burn.camera_id!r} (cameras: {choices})")
        by_camera = {b.camera_id: b for b in burns}
        self.options = options
        self.specs = tuple(cameras)
        self.schedules = {
            spec.node.id: schedule_for(spec, by_camera.get(spec.node.id), options)
            for spec in cameras
        }
        self.cameras: dict[str, VirtualCamera] = {}

    def start(self) -> None:
        """Open every camera's port and start serving (stops those started if one fails)."""
        try:
            for number, spec in enumerate(self.specs):
                port = self.options.first_port + number if self.options.first_port else 0
                camera = VirtualCamera(
                    self.schedules[spec.node.id], host=self.options.host, port=port
                )
                self.cameras[spec.node.id] = camera.start()
                log.info(
                    "camera %s (%s): %s — %s",
                    spec.node.id,
                    spec.label_zh,
                    camera.url,
                    self.schedules[spec.node.id].describe(),
                )
        except OSError:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every camera."""
        for camera in self.cameras.values():
            camera.stop()
        self.cameras = {}

    def urls(self) -> dict[str, str]:
        """Stream address of each running camera, by node id."""
        return {node_id: camera.url for node_id, camera in self.cameras.items()}

    def write_index(self, folder: Path) -> Path:
        """Write ``cameras.json`` (node, site, stream and still addresses) into ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        index = {
            spec.node.id: {
                "site_id": spec.node.site_id,
                "label": spec.label_zh,
                "stream": self.cameras[spec.node.id].url,
                "snapshot": self.cameras[spec.node.id].snapshot_url,
                "fires": [
                    {"clip": f.clip, "ignition_s": f.ignition_s, "extinguished_s": f.extinguished_s}
                    for f in self.schedules[spec.node.id].fires
                ],
            }
            for spec in self.specs
            if spec.node.id in self.cameras
        }
        path = folder / CAMERAS_FILE
        path.write_text(json.dumps(index, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        return path
