"""Virtual camera nodes: synthetic clips served as an IP camera's MJPEG stream over HTTP."""

from envgrid_sim.camera.schedule import Fire, Schedule, Segment, background, burn_at, looping
from envgrid_sim.camera.server import SNAPSHOT_PATH, STREAM_PATH, VirtualCamera

__all__ = [
    "SNAPSHOT_PATH",
    "STREAM_PATH",
    "Fire",
    "Schedule",
    "Segment",
    "VirtualCamera",
    "background",
    "burn_at",
    "looping",
]
