"""The one place the agent gets its detector from (the lead wires the real one here)."""

from __future__ import annotations

from collections.abc import Callable

from envgrid_edge.camera.config import CameraConfig
from envgrid_edge.camera.events import FrameDetector, Mask

DetectorFactory = Callable[[CameraConfig, Mask], FrameDetector]
"""Builds a detector for a node, given the mask at the analysed size (255 = look)."""


def make_detector(config: CameraConfig, mask: Mask) -> FrameDetector:
    """The smoke-and-flame detector for ``config``'s node, looking only where ``mask`` allows.

    ``config.detector`` holds the node file's detector settings as they are; ``mask`` is a
    uint8 array at the analysed size (``config.analysis``), 255 where the detector may look.
    """
    raise NotImplementedError(
        "the smoke and flame detector (envgrid_edge.camera.detector) is not wired into the "
        "camera agent yet: envgrid_edge.camera.factory.make_detector must build it"
    )
