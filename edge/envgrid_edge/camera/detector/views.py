"""One frame shrunk to the analysis size, with the colour views the cues share."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from envgrid_edge.camera.events import Box, Frame, Mask

Grey = npt.NDArray[np.float32]
Bool = npt.NDArray[np.bool_]

# A frame counts as infrared when its channels differ by at most this on sampled pixels.
_IR_TOLERANCE = 2


@dataclass(frozen=True)
class Views:
    """The analysed frame: small BGR, grey as float, HSV (None on IR) and where to look."""

    bgr: Frame
    grey: Grey
    hsv: Frame | None
    look: Bool
    scale: float  # input pixels per analysed pixel

    @property
    def infrared(self) -> bool:
        """True on a night/IR frame (no colour to judge)."""
        return self.hsv is None

    def to_input(self, box: Box) -> Box:
        """A box of the analysed frame in the input frame's pixels."""
        return scale_box(box, self.scale)


def scale_box(box: Box, scale: float) -> Box:
    """``box`` with every coordinate multiplied by ``scale`` (width and height at least 1)."""
    x, y, w, h = box
    return (round(x * scale), round(y * scale), max(1, round(w * scale)), max(1, round(h * scale)))


def is_infrared(frame: Frame) -> bool:
    """True when the three channels are (nearly) equal: a monochrome IR or greyscale frame."""
    sample = frame[::16, ::16].astype(np.int16)
    spread = np.abs(sample[..., 0] - sample[..., 1]) + np.abs(sample[..., 1] - sample[..., 2])
    return bool(spread.max(initial=0) <= _IR_TOLERANCE)


def analysis_size(width: int, height: int, analysis_width: int) -> tuple[int, int]:
    """The analysed frame's size: no wider than ``analysis_width``, same aspect, never enlarged."""
    if width <= analysis_width:
        return width, height
    return analysis_width, max(1, round(height * analysis_width / width))


def shrink_mask(mask: Mask | None, size: tuple[int, int]) -> Bool:
    """The look-here mask at the analysis size (everywhere when there is none)."""
    width, height = size
    if mask is None:
        return np.ones((height, width), dtype=np.bool_)
    small = cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST)
    return np.asarray(small > 127, dtype=np.bool_)


def make_views(frame: Frame, size: tuple[int, int], look: Bool) -> Views:
    """Shrink ``frame`` to ``size`` and derive grey and (on colour frames) HSV."""
    width = size[0]
    if (frame.shape[1], frame.shape[0]) == size:
        small = frame
    else:
        small = np.asarray(cv2.resize(frame, size, interpolation=cv2.INTER_AREA), dtype=np.uint8)
    grey = np.asarray(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), dtype=np.float32)
    hsv = None
    if not is_infrared(small):
        hsv = np.asarray(cv2.cvtColor(small, cv2.COLOR_BGR2HSV), dtype=np.uint8)
    return Views(bgr=small, grey=grey, hsv=hsv, look=look, scale=frame.shape[1] / width)
