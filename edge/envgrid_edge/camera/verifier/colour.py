"""Published colour rules for flame and smoke pixels, as fractions of an image.

Flame: the YCrCb rule of Çelik & Demirel (2009) — brighter and redder than the image's mean, Cr well
above Cb — and the RGB rule R > G > B with a bright red channel (Chen et al. 2004). Smoke: greyish
(low saturation, channels close together) at medium brightness. On their own these rules flag most
sunsets and red objects; the learned head weighs them with texture and edges.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

# Çelik & Demirel's |Cb − Cr| margin, and Chen's minimum red for a flame pixel.
CB_CR_MARGIN = 40
RED_MIN = 190
# Smoke: saturation below this (0..255), brightness inside this band.
SMOKE_SAT_MAX = 50
SMOKE_VALUE_BAND = (80, 235)
# Three channels closer than this (mean absolute difference) make a greyscale or IR frame.
GREY_CHANNEL_SPREAD = 2.0

Image = npt.NDArray[np.uint8]
BoolMask = npt.NDArray[np.bool_]


def is_greyscale(bgr: Image) -> bool:
    """True for a frame whose three channels are (nearly) equal: IR night view or a mono camera."""
    sample = bgr[::4, ::4]  # every 16th pixel is plenty to tell, and keeps big frames cheap
    b, g, r = (sample[..., i].astype(np.int16) for i in range(3))
    spread = (np.abs(b - g).mean() + np.abs(g - r).mean()) / 2.0
    return bool(spread < GREY_CHANNEL_SPREAD)


def flame_mask(bgr: Image) -> BoolMask:
    """Pixels that both flame rules accept."""
    ycrcb = cv2.cvtColor(bgr, cv2.COLOR_BGR2YCrCb).astype(np.int16)
    y, cr, cb = ycrcb[..., 0], ycrcb[..., 1], ycrcb[..., 2]
    celik = (
        (y > cb)
        & (cr > cb)
        & (y > y.mean())
        & (cb < cb.mean())
        & (cr > cr.mean())
        & (np.abs(cb - cr) >= CB_CR_MARGIN)
    )
    b, g, r = (bgr[..., i].astype(np.int16) for i in range(3))
    chen = (r > RED_MIN) & (r >= g) & (g > b)
    return np.asarray(celik & chen)


def smoke_mask(bgr: Image) -> BoolMask:
    """Greyish pixels at medium brightness."""
    hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)
    s, v = hsv[..., 1], hsv[..., 2]
    return np.asarray((s < SMOKE_SAT_MAX) & (v >= SMOKE_VALUE_BAND[0]) & (v <= SMOKE_VALUE_BAND[1]))


def rule_fractions(bgr: Image) -> tuple[float, float]:
    """Fraction of flame-rule pixels and of smoke-rule pixels."""
    return float(flame_mask(bgr).mean()), float(smoke_mask(bgr).mean())
