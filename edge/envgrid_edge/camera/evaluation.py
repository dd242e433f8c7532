"""Frame-level evaluation of the still-image score on a labelled folder (``labels.csv``).

The folder holds images and ``labels.csv`` with at least the columns ``file,label``; labels are
``fire``, ``smoke`` or ``negative`` (other rows are an error). A frame is *flagged* when its
fire-or-smoke score reaches the threshold; a flagged frame is called ``fire`` or ``smoke`` by the
larger per-kind score. Figures: precision, recall and false-positive rate per class (one against
the rest) and for fire-or-smoke against negative, and the confusion matrix.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from envgrid_common.messages import DetectionKind
from envgrid_edge.camera.events import Box, Frame

LABELS = ("fire", "smoke", "negative")


class StillScorer(Protocol):
    """What the evaluation needs: per-kind and fire-or-smoke scores, and the model's threshold."""

    @property
    def threshold(self) -> float: ...

    def score(self, frame: Frame, box: Box | None = None) -> dict[DetectionKind, float]: ...

    def still_score(self, frame: Frame, box: Box | None = None) -> float: ...


@dataclass(frozen=True)
class Judged:
    """One image's label, scores and verdict."""

    file: str
    label: str
    score: float  # fire-or-smoke
    flagged: bool
    predicted: str  # fire, smoke or negative


class LabelsError(ValueError):
    """labels.csv is missing, malformed, or names an image that cannot be read."""


def read_labels(folder: Path) -> list[tuple[str, str]]:
    """(file, label) rows of ``folder/labels.csv``."""
    path = folder / "labels.csv"
    if not path.is_file():
        raise LabelsError(f"{path}: not found")
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or not {"file", "label"} <= set(reader.fieldnames):
            raise LabelsError(f"{path}: needs the columns file,label")
        rows = []
        for n, row in enumerate(reader, start=2):
            label = (row["label"] or "").strip()
            if label not in LABELS:
                raise LabelsError(f"{path}:{n}: label {label!r} is not one of {', '.join(LABELS)}")
            rows.append(((row["file"] or "").strip(), label))
    if not rows:
        raise LabelsError(f"{path}: no images listed")
    return rows


def judge(
    folder: Path,
    scorer: StillScorer,
    threshold: float,
    progress: Callable[[int, int], None] | None = None,
) -> list[Judged]:
    """Score every listed image (blocking: OpenCV decode and the model)."""
    rows = read_labels(folder)
    judged = []
    for i, (file, label) in enumerate(rows):
        decoded = cv2.imread(str(folder / file), cv2.IMREAD_COLOR)
        if decoded is None:
            raise LabelsError(f"{folder / file}: cannot be read as an image")
        frame: Frame = np.asarray(decoded, dtype=np.uint8)
        score = scorer.still_score(frame)
        kinds = scorer.score(frame)
        flagged = score >= threshold
        if not flagged:
            predicted = "negative"
        elif kinds[DetectionKind.FLAME] >= kinds[DetectionKind.SMOKE]:
            predicted = "fire"
        else:
            predicted = "smoke"
        judged.append(Judged(file, label, score, flagged, predicted))
        if progress:
            progress(i + 1, len(rows))
    return judged


def _rates(tp: int, fp: int, fn: int, tn: int) -> dict[str, float | None]:
    """Precision, recall and false-positive rate; None where the denominator is zero."""
    return {
        "precision": tp / (tp + fp) if tp + fp else None,
        "recall": tp / (tp + fn) if tp + fn else None,
        "fpr": fp / (fp + tn) if fp + tn else None,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
    }


def summarise(judged: list[Judged], threshold: float) -> dict[str, Any]:
    """The figures, in the shape ``--json`` writes."""
    positive = [j.label != "negative" for j in judged]
    flagged = [j.flagged for j in judged]
    tp = sum(p and f for p, f in zip(positive, flagged, strict=True))
    fp = sum(not p and f for p, f in zip(positive, flagged, strict=True))
    fn = sum(p and not f for p, f in zip(positive, flagged, strict=True))
    tn = len(judged) - tp - fp - fn
    binary = _rates(tp, fp, fn, tn)
    per_class = {}
    for c in LABELS:
        ctp = sum(j.label == c and j.predicted == c for j in judged)
        cfp = sum(j.label != c and j.predicted == c for j in judged)
        cfn = sum(j.label == c and j.predicted != c for j in judged)
        per_class[c] = _rates(ctp, cfp, cfn, len(judged) - ctp - cfp - cfn)
    matrix = [
        [sum(j.label == a and j.predicted == b for j in judged) for b in LABELS] for a in LABELS
    ]
    return {
        "recall": binary["recall"],
        "fpr": binary["fpr"],
        "precision": binary["precision"],
        "n": len(judged),
        "threshold": threshold,
        "fire_or_smoke": binary,
        "per_class": per_class,
        "confusion": {"labels": list(LABELS), "rows_true_columns_predicted": matrix},
        "per_image": [
            {"file": j.file, "label": j.label, "score": round(j.score, 6), "flagged": j.flagged}
            for j in judged
        ],
    }


def format_report(figures: dict[str, Any]) -> str:
    """The figures as text for a terminal."""

    def pct(v: float | None) -> str:
        return "  n/a" if v is None else f"{v:5.3f}"

    lines = [
        f"{figures['n']} images, threshold {figures['threshold']:.4f} (fire-or-smoke score ≥ it)",
        "",
        f"{'':16s}{'precision':>10s}{'recall':>8s}{'FPR':>8s}",
    ]
    rows = [("fire-or-smoke", figures["fire_or_smoke"]), *figures["per_class"].items()]
    for name, r in rows:
        lines.append(
            f"{name:16s}{pct(r['precision']):>10s}{pct(r['recall']):>8s}{pct(r['fpr']):>8s}"
        )
    labels = figures["confusion"]["labels"]
    lines += [
        "",
        "confusion (rows: true, columns: predicted)",
        " " * 10 + "".join(f"{c:>10s}" for c in labels),
    ]
    for name, row in zip(labels, figures["confusion"]["rows_true_columns_predicted"], strict=True):
        lines.append(f"{name:10s}" + "".join(f"{v:10d}" for v in row))
    return "\n".join(lines)
