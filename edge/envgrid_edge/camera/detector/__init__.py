"""Finding smoke and flame in frames: cheap gates, colour and motion cues, a learned verifier."""

from envgrid_edge.camera.detector.config import DetectorConfig
from envgrid_edge.camera.detector.pipeline import TemporalDetector

__all__ = ["DetectorConfig", "TemporalDetector"]
