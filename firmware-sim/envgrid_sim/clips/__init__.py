"""Synthetic camera clips of a field: straw burns to detect and look-alikes to ignore.

Everything is drawn with numpy and OpenCV from fixed seeds (no downloaded assets): the same
name, seed, size and rate always give the same frames, drawn lazily as they are asked for.
"""

from envgrid_sim.clips.catalog import CLIPS, render
from envgrid_sim.clips.clip import Clip, ClipSpec
from envgrid_sim.clips.video import write_clip

__all__ = ["CLIPS", "Clip", "ClipSpec", "render", "write_clip"]
