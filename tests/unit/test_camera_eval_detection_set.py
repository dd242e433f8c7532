"""The committed verifier on the shared evaluation set gives exactly the figures MODEL.md states."""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

import orjson
import pytest

from envgrid_edge.camera.eval_cli import add_eval_parser
from envgrid_edge.camera.verifier.model import MODEL_DIR
from tests.conftest import SHARED

# ENVGRID_TEST_SHARED points at the shared folder from a checkout that does not sit beside it.
DETECTION = Path(os.environ.get("ENVGRID_TEST_SHARED", SHARED)) / "data" / "detection"
CLAIM = re.compile(
    r"eval-set: threshold (?P<threshold>[0-9.]+) recall (?P<recall>[0-9.]+) "
    r"fpr (?P<fpr>[0-9.]+) precision (?P<precision>[0-9.]+) n (?P<n>\d+)"
)


def claimed() -> dict[str, float]:
    """The evaluation-set line of MODEL.md."""
    match = CLAIM.search((MODEL_DIR / "MODEL.md").read_text(encoding="utf-8"))
    assert match, "MODEL.md has no 'eval-set: …' line"
    return {k: float(v) for k, v in match.groupdict().items()}


@pytest.mark.skipif(
    not (DETECTION / "labels.csv").is_file(),
    reason=f"the evaluation set is not here ({DETECTION}); it lives in ../shared beside the repo",
)
def test_the_evaluation_set_gives_the_stated_figures(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser(prog="camera")
    add_eval_parser(parser.add_subparsers(dest="action", required=True))
    out = tmp_path / "figures.json"
    args = parser.parse_args(["eval", str(DETECTION), "--json", str(out)])
    assert args.handler(args) == 0
    figures = orjson.loads(out.read_bytes())
    stated = claimed()
    assert figures["n"] == stated["n"]
    for key in ("threshold", "recall", "fpr", "precision"):
        assert figures[key] == pytest.approx(stated[key], abs=5e-4), key
