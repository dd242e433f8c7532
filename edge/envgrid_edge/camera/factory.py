"""The one place the agent gets its detector from: the temporal detector with the verifier."""

from __future__ import annotations

from collections.abc import Callable

from envgrid_edge.camera.config import CameraConfig
from envgrid_edge.camera.events import FrameDetector, Mask

DetectorFactory = Callable[[CameraConfig, Mask], FrameDetector]
"""Builds a detector for a node, given the mask at the analysed size (255 = look)."""


def make_detector(config: CameraConfig, mask: Mask) -> FrameDetector:
    """The smoke-and-flame detector for ``config``'s node, looking only where ``mask`` allows.

    ``config.detector`` holds the node file's detector settings (``DetectorConfig`` fields);
    the learned verifier is the committed model, asked about candidates only (see
    ``envgrid_edge.camera.detector.fusion``). Raises ``pydantic.ValidationError`` on a wrong
    setting.
    """
    # Imported here: numpy, OpenCV and the model load when a camera runs, not for --help.
    from envgrid_edge.camera.detector import DetectorConfig, TemporalDetector
    from envgrid_edge.camera.verifier import default_verifier

    return TemporalDetector(
        DetectorConfig.model_validate(config.detector),
        mask=mask,
        scorer=default_verifier(),
        id_prefix=config.node_id[-32:].lstrip("-_") or "camera",
    )
