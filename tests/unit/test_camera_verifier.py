"""The learned verifier: colour rules, features, heads, box handling and the committed model."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from envgrid_common.messages import DetectionKind
from envgrid_edge.camera.events import RegionScorer
from envgrid_edge.camera.verifier import default_verifier, still_score
from envgrid_edge.camera.verifier.backbone import Backbone
from envgrid_edge.camera.verifier.colour import flame_mask, is_greyscale, rule_fractions
from envgrid_edge.camera.verifier.features import handcrafted
from envgrid_edge.camera.verifier.head import CLASSES, SoftmaxHead
from envgrid_edge.camera.verifier.model import DEFAULT_MODEL, VerifierModel, load_model
from envgrid_edge.camera.verifier.scorer import MIN_SIDE, Verifier, crop

RNG_SEED = 3


def field(h: int = 240, w: int = 320) -> np.ndarray:
    """A dull green field under a blue-grey sky, with a little noise."""
    rng = np.random.default_rng(RNG_SEED)
    img = np.zeros((h, w, 3), np.uint8)
    img[: h // 2] = (200, 170, 150)  # BGR sky
    img[h // 2 :] = (40, 110, 60)  # BGR grass
    noise = rng.integers(-8, 9, img.shape)
    return np.asarray(np.clip(img.astype(np.int16) + noise, 0, 255), dtype=np.uint8)


def with_flame(img: np.ndarray) -> np.ndarray:
    """The image with a bright orange-yellow flame patch near the bottom."""
    out = img.copy()
    h, w = out.shape[:2]
    out[h // 2 : h - 20, w // 3 : w // 2] = (40, 170, 250)
    out[h // 2 + 20 : h - 40, w // 3 + 10 : w // 2 - 10] = (120, 230, 255)
    return out


def test_flame_rules_find_an_orange_patch_and_not_a_green_field() -> None:
    plain = field()
    fire = with_flame(plain)
    assert rule_fractions(plain)[0] == 0.0
    assert rule_fractions(fire)[0] > 0.05
    assert flame_mask(fire)[150, 140]


def test_grey_frames_are_recognised() -> None:
    grey = np.repeat(field()[:, :, :1], 3, axis=2)
    assert is_greyscale(grey)
    assert not is_greyscale(field())


def test_handcrafted_features_have_one_length_for_any_size_and_are_finite() -> None:
    small = handcrafted(field(20, 30))
    large = handcrafted(field(480, 640))
    grey = handcrafted(np.repeat(field()[:, :, 1:2], 3, axis=2))
    assert small.shape == large.shape == grey.shape
    assert np.isfinite(large).all()
    assert np.isfinite(grey).all()
    assert not np.allclose(handcrafted(field()), handcrafted(with_flame(field())))


def test_softmax_head_gives_probabilities() -> None:
    rng = np.random.default_rng(RNG_SEED)
    head = SoftmaxHead(np.zeros(4), np.ones(4), rng.normal(size=(4, 3)), np.zeros(3))
    p = head.probabilities(rng.normal(size=(5, 4)))
    assert p.shape == (5, 3)
    assert np.allclose(p.sum(axis=1), 1.0)
    assert (p > 0).all()


def test_crop_clips_to_the_frame_and_grows_tiny_boxes() -> None:
    frame = field(100, 200)
    assert crop(frame, None).shape == frame.shape
    assert crop(frame, (10, 20, 30, 40)).shape[:2] == (40, 30)
    tiny = crop(frame, (50, 50, 2, 2))
    assert tiny.shape[:2] == (MIN_SIDE, MIN_SIDE)
    edge = crop(frame, (190, 90, 50, 50))
    assert edge.shape[:2] == (10, 10)
    outside = crop(frame, (500, 500, 10, 10))
    assert outside.size > 0
    assert crop(frame[:, :, 0], (0, 0, 20, 20)).shape == (20, 20, 3)


def flame_model(grey_threshold: float = 0.5) -> VerifierModel:
    """A hand-made model on handcrafted features: fire probability rises with the flame fraction."""
    n = handcrafted(field()).shape[0]
    flame_column = 12 + 4 + 4 + 10  # colour block (hue, sat, val, moments), then the rule block
    weights = np.zeros((n, len(CLASSES)))
    weights[flame_column, CLASSES.index("fire")] = 60.0
    bias = np.array([0.0, -1.0, -3.0])
    head = SoftmaxHead(np.zeros(n), np.ones(n), weights, bias)
    grey = SoftmaxHead(np.zeros(n), np.ones(n), weights, bias.copy())
    return VerifierModel(family="hand", threshold=0.5, colour=head, grey=grey)


def test_verifier_scores_a_flame_box_above_the_field() -> None:
    verifier = Verifier(flame_model())
    scorer: RegionScorer = verifier  # the Protocol the temporal pipeline calls
    frame = with_flame(field())
    in_flame = scorer.score(frame, (80, 100, 120, 140))  # the flame with some field around it
    on_grass = scorer.score(frame, (250, 180, 50, 50))
    assert set(in_flame) == {DetectionKind.FLAME, DetectionKind.SMOKE}
    assert in_flame[DetectionKind.FLAME] > 0.9 > 0.5 > on_grass[DetectionKind.FLAME]
    assert verifier.still_score(frame) > verifier.still_score(field())


def test_a_deep_model_without_its_backbone_is_refused() -> None:
    model = flame_model()
    for family in ("deep", "deep+hand"):
        deep = VerifierModel(family, model.threshold, model.colour, model.grey)
        with pytest.raises(ValueError, match="backbone"):
            Verifier(deep)


class LeftHeavyBackbone(Backbone):
    """A stand-in backbone whose two 'features' are the mean brightness of the left and right
    thirds, so a mirrored view gives different features."""

    def __init__(self) -> None:  # no network to load
        pass

    def features(self, bgr: np.ndarray) -> np.ndarray:
        third = bgr.shape[1] // 3
        left, right = bgr[:, :third].mean() / 255.0, bgr[:, -third:].mean() / 255.0
        return np.array([left, right], dtype=np.float32)


def two_view_model(views: tuple[str, ...]) -> VerifierModel:
    """A deep+hand model on the stand-in backbone: fire rises with the left third's brightness."""
    n = 2 + handcrafted(field()).shape[0]
    weights = np.zeros((n, len(CLASSES)))
    weights[0, CLASSES.index("fire")] = 8.0
    head = SoftmaxHead(np.zeros(n), np.ones(n), weights, np.array([0.0, -4.0, -6.0]))
    return VerifierModel("deep+hand", 0.5, head, head, views=views)


def test_test_time_views_average_the_whole_and_the_mirrored_region() -> None:
    frame = field()
    frame[:, : frame.shape[1] // 3] = 255  # a bright left edge
    one = Verifier(two_view_model(("whole",)), LeftHeavyBackbone())
    mirrored = Verifier(
        VerifierModel("deep+hand", 0.5, one.model.colour, one.model.grey, views=("flip",)),
        LeftHeavyBackbone(),
    )
    both = Verifier(two_view_model(("whole", "flip")), LeftHeavyBackbone())
    whole_p, flip_p = np.array(one.probabilities(frame)), np.array(mirrored.probabilities(frame))
    assert whole_p[1] > flip_p[1]  # the bright side moved right: less 'fire' for this head
    assert np.allclose(both.probabilities(frame), (whole_p + flip_p) / 2)
    features = both.features(frame)
    assert len(features) == 2
    assert features[0][0] == pytest.approx(features[1][1])  # left and right swapped
    assert np.array_equal(features[0][2:], features[1][2:])  # handcrafted: computed once


def write_model(path: Path, threshold: float, grey_threshold: float) -> None:
    """A model file in the training script's layout, from the hand-made flame model."""
    m = flame_model()
    np.savez(
        path,
        family=np.array("hand"),
        threshold=np.array(threshold),
        threshold_rule=np.array("test"),
        grey_threshold=np.array(grey_threshold),
        **{f"colour_{k}": v for k, v in vars(m.colour).items()},
        **{f"grey_{k}": v for k, v in vars(m.grey).items()},
    )


def test_the_grey_head_is_shifted_onto_the_colour_threshold(tmp_path: Path) -> None:
    path = tmp_path / "m.npz"
    write_model(path, threshold=0.3, grey_threshold=0.7)
    model = load_model(path)
    x = np.zeros(model.grey.mean.shape)
    raw = flame_model().grey.probabilities(x)
    shifted = model.grey.probabilities(x)

    def logit(p: float) -> float:
        return math.log(p / (1 - p))

    # A grey frame at the grey head's own threshold (0.7) must land on the colour one (0.3).
    moved = logit(1 - shifted[0]) - logit(1 - raw[0])
    assert moved == pytest.approx(logit(0.3) - logit(0.7))


def test_views_are_read_from_the_file_and_default_to_the_whole_region(tmp_path: Path) -> None:
    path = tmp_path / "m.npz"
    write_model(path, 0.5, 0.5)
    assert load_model(path).views == ("whole",)
    data = dict(np.load(path))
    np.savez(path, **(data | {"views": np.array(["whole", "flip"])}))
    assert load_model(path).views == ("whole", "flip")
    np.savez(path, **(data | {"views": np.array(["whole", "upside-down"])}))
    with pytest.raises(ValueError, match="views"):
        load_model(path)


def test_unknown_feature_family_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.npz"
    write_model(path, 0.5, 0.5)
    data = dict(np.load(path))
    data["family"] = np.array("magic")
    np.savez(path, **data)
    with pytest.raises(ValueError, match="family"):
        load_model(path)


@pytest.fixture(scope="module")
def committed() -> Verifier:
    """The committed model and its backbone."""
    return default_verifier()


def test_committed_model_loads_with_a_threshold_inside_zero_one(committed: Verifier) -> None:
    assert DEFAULT_MODEL.is_file()
    assert 0.0 < committed.threshold < 1.0


def test_committed_model_scores_colour_grey_and_boxes_in_zero_one(committed: Verifier) -> None:
    frame = with_flame(field())
    grey = np.repeat(frame[:, :, 1:2], 3, axis=2)
    for image, box in [
        (frame, None),
        (grey, None),
        (frame, (100, 120, 80, 90)),
        (frame, (0, 0, 3, 3)),
    ]:
        p = committed.probabilities(image, box)
        assert sum(p) == pytest.approx(1.0)
        scores = committed.score(image, box)
        assert all(0.0 <= v <= 1.0 for v in scores.values())
        assert committed.still_score(image, box) == pytest.approx(1.0 - p[0])


def test_committed_grey_path_differs_from_the_colour_path(committed: Verifier) -> None:
    """A grey frame goes through the grey head: its score is not the colour head's."""
    frame = np.repeat(with_flame(field())[:, :, 1:2], 3, axis=2)
    colour_only = Verifier(
        VerifierModel(
            committed.model.family,
            committed.threshold,
            committed.model.colour,
            committed.model.colour,
        ),
        committed._backbone,
    )
    assert committed.still_score(frame) != pytest.approx(colour_only.still_score(frame), abs=1e-9)


def test_still_score_uses_the_committed_model(committed: Verifier) -> None:
    frame = with_flame(field())
    assert still_score(frame) == pytest.approx(committed.still_score(frame), abs=1e-6)


def test_large_frames_are_shrunk_like_the_training_images() -> None:
    from envgrid_edge.camera.verifier.backbone import LONGEST_SIDE, shrink

    hd = field(720, 1280)
    assert shrink(hd).shape == (360, LONGEST_SIDE, 3)
    small = field(100, 200)
    assert shrink(small) is small


def test_scoring_imports_no_heavy_framework() -> None:
    """At run time the verifier needs OpenCV and numpy only (torch is a dev-time tool at most)."""
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "from envgrid_edge.camera.verifier import still_score\n"
        "still_score(np.zeros((48, 64, 3), np.uint8))\n"
        "heavy = {'torch', 'onnx', 'onnxruntime', 'sklearn', 'tensorflow'} & set(sys.modules)\n"
        "print(sorted(heavy))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "[]"
