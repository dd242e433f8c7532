"""``envgrid edge camera eval``: labels.csv reading, the figures, the JSON file and the command."""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import orjson
import pytest

from envgrid_common.messages import DetectionKind
from envgrid_edge.camera.eval_cli import add_eval_parser
from envgrid_edge.camera.evaluation import LabelsError, format_report, judge, read_labels, summarise
from envgrid_edge.camera.events import Box, Frame


class RedScorer:
    """A fake scorer: the share of strongly red pixels is the fire score, blue ones smoke."""

    threshold = 0.5

    def score(self, frame: Frame, box: Box | None = None) -> dict[DetectionKind, float]:
        b, _, r = (frame[..., i].astype(int) for i in range(3))
        return {
            DetectionKind.FLAME: float((r > 200).mean()),
            DetectionKind.SMOKE: float((b > 200).mean()),
        }

    def still_score(self, frame: Frame, box: Box | None = None) -> float:
        return max(self.score(frame).values())


def image(colour: tuple[int, int, int]) -> np.ndarray:
    img = np.zeros((32, 32, 3), np.uint8)
    img[:] = colour
    return img


def make_folder(root: Path, rows: list[tuple[str, str, tuple[int, int, int]]]) -> Path:
    """One-colour images and their labels.csv (with an extra column, as real exports have)."""
    root.mkdir(parents=True, exist_ok=True)
    lines = ["file,label,note"]
    for name, label, colour in rows:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(root / name), image(colour))
        lines.append(f"{name},{label},x")
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    return root


RED, BLUE, DARK = (0, 0, 255), (255, 0, 0), (20, 20, 20)
ROWS = [
    ("fire/a.png", "fire", RED),  # flagged, called fire: right
    ("fire/b.png", "fire", DARK),  # missed
    ("smoke/c.png", "smoke", BLUE),  # flagged, called smoke: right
    ("smoke/d.png", "smoke", RED),  # flagged, but called fire
    ("negative/e.png", "negative", DARK),  # right
    ("negative/f.png", "negative", RED),  # false alarm, called fire
    ("negative/g.png", "negative", DARK),  # right
]


def test_figures_follow_the_verdicts(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "set", ROWS)
    figures = summarise(judge(folder, RedScorer(), 0.5), 0.5)
    assert figures["n"] == 7
    # fire-or-smoke: tp 3 (a, c, d), fn 1 (b), fp 1 (f), tn 2.
    assert figures["recall"] == pytest.approx(3 / 4)
    assert figures["fpr"] == pytest.approx(1 / 3)
    assert figures["precision"] == pytest.approx(3 / 4)
    assert figures["confusion"]["labels"] == ["fire", "smoke", "negative"]
    assert figures["confusion"]["rows_true_columns_predicted"] == [[1, 0, 1], [1, 1, 0], [1, 0, 2]]
    fire = figures["per_class"]["fire"]
    assert (fire["tp"], fire["fp"], fire["fn"], fire["tn"]) == (1, 2, 1, 3)
    assert fire["precision"] == pytest.approx(1 / 3)
    assert figures["per_class"]["smoke"]["recall"] == pytest.approx(1 / 2)
    assert figures["per_class"]["negative"]["fpr"] == pytest.approx(1 / 4)
    flags = {p["file"]: p["flagged"] for p in figures["per_image"]}
    assert flags == {"fire/a.png": True, "fire/b.png": False, "smoke/c.png": True,
                     "smoke/d.png": True, "negative/e.png": False, "negative/f.png": True,
                     "negative/g.png": False}  # fmt: skip
    text = format_report(figures)
    assert "confusion" in text
    assert "fire-or-smoke" in text
    assert "0.5000" in text


def test_a_higher_threshold_flags_less(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "set", ROWS)
    figures = summarise(judge(folder, RedScorer(), 1.5), 1.5)
    assert figures["recall"] == 0.0
    assert figures["precision"] is None
    assert figures["fpr"] == 0.0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "not found"),
        ("name,kind\na.png,fire\n", "columns"),
        ("file,label\na.png,flame\n", "not one of"),
        ("file,label\n", "no images"),
    ],
)
def test_bad_label_files_are_refused(tmp_path: Path, content: str | None, message: str) -> None:
    if content is not None:
        (tmp_path / "labels.csv").write_text(content)
    with pytest.raises(LabelsError, match=message):
        read_labels(tmp_path)


def test_an_unreadable_image_is_refused(tmp_path: Path) -> None:
    (tmp_path / "labels.csv").write_text("file,label\nmissing.jpg,fire\n")
    with pytest.raises(LabelsError, match="cannot be read"):
        judge(tmp_path, RedScorer(), 0.5)


def parser() -> argparse.ArgumentParser:
    """A small stand-in for ``envgrid edge camera``."""
    p = argparse.ArgumentParser(prog="camera")
    add_eval_parser(p.add_subparsers(dest="action", required=True))
    return p


def test_the_command_writes_json_with_the_committed_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = make_folder(tmp_path / "set", ROWS[:3] + ROWS[4:6])
    out = tmp_path / "figures.json"
    args = parser().parse_args(["eval", str(folder), "--json", str(out)])
    assert args.handler(args) == 0
    captured = capsys.readouterr()
    assert "confusion" in captured.out
    assert "scored 5/5" in captured.err
    figures = orjson.loads(out.read_bytes())
    assert {"recall", "fpr", "precision", "n", "per_image", "threshold"} <= set(figures)
    assert figures["n"] == 5
    for entry in figures["per_image"]:
        assert set(entry) == {"file", "label", "score", "flagged"}
        assert entry["flagged"] == (entry["score"] >= figures["threshold"])


def test_the_command_takes_a_threshold_and_reports_bad_folders(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = make_folder(tmp_path / "set", ROWS[:2])
    args = parser().parse_args(["eval", str(folder), "--threshold", "0"])
    assert args.handler(args) == 0
    assert "threshold 0.0000" in capsys.readouterr().out
    args = parser().parse_args(["eval", str(tmp_path / "nowhere")])
    assert args.handler(args) == 2
    assert "not found" in capsys.readouterr().err


def test_an_export_of_false_alarms_only_has_no_recall(tmp_path: Path) -> None:
    """The cloud's export of dismissed cases holds negatives only: FPR yes, recall undefined."""
    folder = make_folder(tmp_path / "set", [r for r in ROWS if r[1] == "negative"])
    figures = summarise(judge(folder, RedScorer(), 0.5), 0.5)
    assert figures["recall"] is None
    assert figures["fpr"] == pytest.approx(1 / 3)
    assert figures["precision"] == 0.0
    assert "n/a" in format_report(figures)
