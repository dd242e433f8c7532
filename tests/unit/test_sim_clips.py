"""Synthetic clips: deterministic, of the asked size, with honest timing and a visible burn."""

from __future__ import annotations

import json
from itertools import islice
from pathlib import Path

import cv2
import numpy as np
import pytest

from envgrid_cli.main import main
from envgrid_sim.clips import CLIPS, render, write_clip

SMALL = (160, 120)
BURNS = sorted(name for name, spec in CLIPS.items() if spec.burn)
NEGATIVES = sorted(name for name, spec in CLIPS.items() if not spec.burn)
REQUIRED = {
    "burn-smoke-day", "burn-smoke-dusk", "burn-flame-day", "burn-flame-dusk",
    "burn-smoke-night-ir", "neg-clouds", "neg-shadows", "neg-headlights-dusk",
    "neg-headlights-night-ir", "neg-red-vehicle", "neg-fog", "neg-tractor-dust", "neg-sunset",
}  # fmt: skip


def test_the_catalogue_has_every_clip_the_detector_is_tuned_on() -> None:
    assert set(CLIPS) >= REQUIRED


@pytest.mark.parametrize("name", ["burn-smoke-day", "burn-flame-dusk", "neg-tractor-dust"])
def test_same_seed_same_frames_other_seed_other_frames(name: str) -> None:
    first = list(islice(render(name, seed=3, size=SMALL, fps=2.0).frames(), 0, 60, 10))
    again = list(islice(render(name, seed=3, size=SMALL, fps=2.0).frames(), 0, 60, 10))
    other = list(islice(render(name, seed=4, size=SMALL, fps=2.0).frames(), 0, 60, 10))
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))


def test_a_frame_is_the_same_drawn_alone_or_in_sequence() -> None:
    clip = render("burn-flame-day", size=SMALL, fps=5.0)
    in_sequence = list(islice(clip.frames(), 120))[-1]
    assert np.array_equal(clip.frame(119), in_sequence)
    assert np.array_equal(clip.frame_at(119 / 5.0), in_sequence)


@pytest.mark.parametrize("size", [(640, 480), (320, 240), (1280, 720)])
def test_frames_are_bgr_uint8_of_the_asked_size(size: tuple[int, int]) -> None:
    clip = render("burn-smoke-dusk", size=size, fps=10.0)
    frame = clip.frame_at(30.0)
    assert frame.shape == (size[1], size[0], 3)
    assert frame.dtype == np.uint8
    assert clip.size == size


def test_frame_count_follows_duration_and_rate() -> None:
    clip = render("neg-red-vehicle", size=SMALL, fps=4.0)
    assert clip.fps == 4.0
    assert 60 <= clip.duration_s <= 90
    assert sum(1 for _ in clip.frames()) == round(clip.duration_s * 4.0)


@pytest.mark.parametrize("name", BURNS)
def test_burns_ignite_then_stop_within_the_clip(name: str) -> None:
    clip = render(name, size=SMALL)
    assert clip.ignition_s is not None
    assert clip.extinguished_s is not None
    assert 10 <= clip.ignition_s <= 20
    assert 30 <= clip.extinguished_s - clip.ignition_s <= 40
    # Room after the fire is out for the smoke to clear and the detector to end its event.
    assert clip.duration_s >= clip.extinguished_s + 10


@pytest.mark.parametrize("name", NEGATIVES)
def test_negatives_have_no_fire(name: str) -> None:
    clip = render(name, size=SMALL)
    assert clip.ignition_s is None
    assert clip.extinguished_s is None


def _changed_blocks(frame: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Blocks of a 20 × 15 grid whose mean colour moved by more than 10 levels."""
    small = cv2.resize(frame, (20, 15), interpolation=cv2.INTER_AREA).astype(np.int16)
    ref = cv2.resize(reference, (20, 15), interpolation=cv2.INTER_AREA).astype(np.int16)
    changed: np.ndarray = np.abs(small - ref).max(axis=2) > 10
    return changed


@pytest.mark.parametrize("name", BURNS)
def test_a_burn_changes_the_scene_after_ignition_and_clears_after(name: str) -> None:
    clip = render(name, size=(320, 240))
    assert clip.ignition_s is not None
    assert clip.extinguished_s is not None
    reference = clip.frame_at(clip.ignition_s - 0.5)
    # Blocks that change before any fire (the horizon and road edges as the camera shakes).
    shaking = np.zeros((15, 20), bool)
    for t in np.arange(clip.ignition_s - 10.0, clip.ignition_s - 0.5, 0.3).tolist():
        shaking |= _changed_blocks(clip.frame_at(t), reference)
    burning = _changed_blocks(clip.frame_at(clip.ignition_s + 10.0), reference) & ~shaking
    cleared = _changed_blocks(clip.frame_at(clip.extinguished_s + 12.0), reference) & ~shaking
    assert burning.sum() >= 8
    assert cleared.sum() <= 1


def test_flames_are_bright_orange_where_the_quiet_field_has_none() -> None:
    flame = render("burn-flame-day", size=(320, 240)).frame_at(30.0)
    hsv = cv2.cvtColor(flame, cv2.COLOR_BGR2HSV)
    flame_like = (hsv[..., 0] < 30) & (hsv[..., 1] > 120) & (hsv[..., 2] > 200)
    assert flame_like.sum() > 100
    quiet = render("quiet-day", size=(320, 240)).frame_at(30.0)
    quiet_hsv = cv2.cvtColor(quiet, cv2.COLOR_BGR2HSV)
    quiet_flame_like = (
        (quiet_hsv[..., 0] < 30) & (quiet_hsv[..., 1] > 120) & (quiet_hsv[..., 2] > 200)
    )
    assert quiet_flame_like.sum() < 10


@pytest.mark.parametrize("name", ["burn-smoke-night-ir", "neg-headlights-night-ir"])
def test_night_ir_clips_are_grey_in_three_equal_channels(name: str) -> None:
    clip = render(name, size=SMALL)
    assert clip.night_ir
    frame = clip.frame_at(25.0)
    assert np.array_equal(frame[..., 0], frame[..., 1])
    assert np.array_equal(frame[..., 1], frame[..., 2])


def test_day_clips_are_in_colour() -> None:
    clip = render("burn-flame-day", size=SMALL)
    assert not clip.night_ir
    frame = clip.frame_at(25.0)
    assert not np.array_equal(frame[..., 0], frame[..., 2])


def test_an_unknown_clip_is_refused_with_the_choices() -> None:
    with pytest.raises(KeyError, match="burn-smoke-day"):
        render("burn-everything")


def test_write_clip_makes_a_video_opencv_reads_back(tmp_path: Path) -> None:
    clip = render("neg-clouds", size=SMALL, fps=2.0)
    seen: list[int] = []
    path = write_clip(clip, tmp_path / "clips" / "clouds.avi", progress=lambda d, t: seen.append(d))
    assert seen[-1] == clip.frame_count
    capture = cv2.VideoCapture(str(path))
    try:
        frames = 0
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            frames += 1
            assert frame.shape == (SMALL[1], SMALL[0], 3)
        assert frames == clip.frame_count
        assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(2.0)
    finally:
        capture.release()


def test_sim_clips_command_writes_videos_and_a_manifest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    names = ["--names", "burn-smoke-day", "neg-fog"]
    status = main(["sim", "clips", str(tmp_path), *names, "--size", "96x72", "--fps", "1"])
    assert status == 0
    manifest = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    by_name = {entry["name"]: entry for entry in manifest["clips"]}
    assert set(by_name) == {"burn-smoke-day", "neg-fog"}
    burn = by_name["burn-smoke-day"]
    assert burn["ignition_s"] == CLIPS["burn-smoke-day"].ignition_s
    assert burn["extinguished_s"] == CLIPS["burn-smoke-day"].extinguished_s
    assert by_name["neg-fog"]["ignition_s"] is None
    assert (burn["width"], burn["height"], burn["fps"]) == (96, 72, 1.0)
    assert (tmp_path / burn["file"]).stat().st_size > 0
    assert "frames" in capsys.readouterr().out


def test_sim_clips_command_refuses_unknown_names_and_sizes(tmp_path: Path) -> None:
    assert main(["sim", "clips", str(tmp_path), "--names", "burn-everything"]) == 2
    assert main(["sim", "clips", str(tmp_path), "--size", "big"]) == 2
    assert not (tmp_path / "manifest.json").exists()


def test_clips_given_one_scene_share_their_field() -> None:
    quiet = render("quiet-day", size=SMALL, scene="camera-1").frame_at(2.0)
    burn = render("burn-smoke-day", size=SMALL, scene="camera-1").frame_at(2.0)
    own = render("burn-smoke-day", size=SMALL).frame_at(2.0)
    assert _changed_blocks(quiet, burn).sum() == 0
    assert _changed_blocks(quiet, own).sum() > 0
