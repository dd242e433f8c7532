"""Masks, analysis size and rate, and the snapshot's weight: what the detector is handed."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from envgrid_edge.camera.analysis import Sampler, analysis_size, resize
from envgrid_edge.camera.config import AnalysisConfig, MaskConfig, SnapshotConfig
from envgrid_edge.camera.masks import IGNORE, LOOK, build_mask, looked_at
from envgrid_edge.camera.snapshots import fit_snapshot


def masks(units: str, *polygons: Sequence[tuple[float, float]]) -> MaskConfig:
    return MaskConfig.model_validate(
        {"units": units, "ignore": [{"points": points} for points in polygons]}
    )


def test_no_polygons_look_everywhere() -> None:
    mask = build_mask(MaskConfig(), (1280, 720), (640, 360))
    assert mask.shape == (360, 640)
    assert mask.dtype == np.uint8
    assert (mask == LOOK).all()
    assert looked_at(mask) == 1.0


def test_fraction_polygons_are_drawn_at_the_analysed_size() -> None:
    sky = [(0, 0), (1, 0), (1, 0.25), (0, 0.25)]
    mask = build_mask(masks("fraction", sky), (1920, 1080), (640, 360))
    assert mask.shape == (360, 640)
    assert (mask[:85] == IGNORE).all(), "the top quarter is the sky"
    assert (mask[95:] == LOOK).all()
    assert 0.72 < looked_at(mask) < 0.78


def test_pixel_polygons_are_scaled_from_the_camera_frame() -> None:
    chimney = [(1000, 100), (1100, 100), (1100, 300), (1000, 300)]  # in a 1280 × 720 frame
    mask = build_mask(masks("px", chimney), (1280, 720), (640, 360))
    assert mask[100, 525] == IGNORE  # (1050, 200) halved
    assert mask[100, 480] == LOOK
    assert mask[20, 525] == LOOK
    ignored = np.argwhere(mask == IGNORE)
    assert ignored[:, 1].min() == 500
    assert ignored[:, 1].max() == 550


def test_several_polygons_all_count() -> None:
    left = [(0, 0), (0.1, 0), (0.1, 1), (0, 1)]
    right = [(0.9, 0), (1, 0), (1, 1), (0.9, 1)]
    mask = build_mask(masks("fraction", left, right), (100, 100), (100, 100))
    assert mask[50, 5] == IGNORE
    assert mask[50, 95] == IGNORE
    assert mask[50, 50] == LOOK


def test_analysis_size_keeps_the_aspect_and_never_enlarges() -> None:
    assert analysis_size(AnalysisConfig(width=640), (1920, 1080)) == (640, 360)
    assert analysis_size(AnalysisConfig(width=640), (1280, 960)) == (640, 480)
    assert analysis_size(AnalysisConfig(width=640), (320, 240)) == (320, 240)
    assert analysis_size(AnalysisConfig(width=640, height=480), (1920, 1080)) == (640, 480)


def test_resize_gives_the_analysed_size() -> None:
    frame = np.zeros((1080, 1920, 3), dtype=np.uint8)
    assert resize(frame, (640, 360)).shape == (360, 640, 3)
    assert resize(frame, (1920, 1080)) is frame


def test_the_sampler_keeps_the_rate_of_source_time() -> None:
    sampler = Sampler(5.0)
    times = [i / 25 for i in range(50)]  # two seconds of a 25 fps camera
    kept = [at for at in times if sampler.want(at)]
    assert len(kept) == 10
    assert kept[:3] == [0.0, 0.2, 0.4]


def test_the_sampler_takes_every_frame_of_a_slower_source() -> None:
    sampler = Sampler(5.0)
    assert all(sampler.want(i / 2) for i in range(10))


def test_the_sampler_starts_again_after_a_gap() -> None:
    sampler = Sampler(5.0)
    assert sampler.want(0.0)
    assert sampler.want(10.0), "the first frame after an outage"
    assert not sampler.want(10.1)
    assert sampler.want(10.2)


def noisy_jpeg(size: int, quality: int = 95) -> bytes:
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return bytes(buffer.tobytes())


def test_a_snapshot_that_fits_goes_as_it_is() -> None:
    image = noisy_jpeg(64)
    assert fit_snapshot(image, SnapshotConfig(max_kb=300)) is image


def test_a_heavy_snapshot_is_re_encoded_under_the_limit() -> None:
    image = noisy_jpeg(800)
    config = SnapshotConfig(max_kb=40)
    assert len(image) > config.max_bytes
    fitted = fit_snapshot(image, config)
    assert fitted is not None
    assert fitted.startswith(b"\xff\xd8")
    assert len(fitted) <= config.max_bytes
    assert cv2.imdecode(np.frombuffer(fitted, np.uint8), cv2.IMREAD_COLOR) is not None


def test_a_png_becomes_a_jpeg_and_garbage_is_dropped() -> None:
    ok, png = cv2.imencode(".png", np.zeros((32, 32, 3), dtype=np.uint8))
    assert ok
    fitted = fit_snapshot(bytes(png.tobytes()), SnapshotConfig())
    assert fitted is not None
    assert fitted.startswith(b"\xff\xd8")
    assert fit_snapshot(b"not an image", SnapshotConfig()) is None
