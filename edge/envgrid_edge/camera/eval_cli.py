"""``envgrid edge camera eval DIR``: the still-image score measured on a labelled folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import orjson


def add_eval_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``eval DIR [--json FILE] [--threshold X]`` to the camera subcommands."""
    parser = subparsers.add_parser(
        "eval",
        help="measure the still-image fire/smoke score on a labelled folder",
        description=(
            "Score every image listed in DIR/labels.csv (columns file,label; labels fire, smoke, "
            "negative) with the committed verifier and print precision, recall and "
            "false-positive rate per class and for fire-or-smoke against negative, the "
            "confusion matrix and the threshold used. A frame is flagged when its fire-or-smoke "
            "score reaches the threshold (by default the one fixed on the training pool). "
            "Progress goes to stderr."
        ),
    )
    parser.add_argument("dir", type=Path, metavar="DIR", help="folder with labels.csv and images")
    parser.add_argument(
        "--json", type=Path, metavar="FILE", help="also write the figures and per-image scores"
    )
    parser.add_argument(
        "--threshold",
        type=float,
        metavar="X",
        help="flag at fire-or-smoke score ≥ X instead of the model's own threshold",
    )
    parser.set_defaults(handler=run_eval)


def run_eval(args: argparse.Namespace) -> int:
    """Evaluate and print: 0 done, 2 unreadable folder or labels."""
    from envgrid_edge.camera.evaluation import LabelsError, format_report, judge, summarise
    from envgrid_edge.camera.verifier import default_verifier

    scorer = default_verifier()
    threshold = scorer.threshold if args.threshold is None else float(args.threshold)

    def progress(done: int, total: int) -> None:
        if done == total or done % 10 == 0:
            sys.stderr.write(f"\rscored {done}/{total}" + ("\n" if done == total else ""))

    try:
        judged = judge(args.dir, scorer, threshold, progress)
    except LabelsError as error:
        sys.stderr.write(f"envgrid edge camera eval: {error}\n")
        return 2
    figures = summarise(judged, threshold)
    sys.stdout.write(format_report(figures) + "\n")
    if args.json is not None:
        args.json.write_bytes(orjson.dumps(figures, option=orjson.OPT_INDENT_2))
        sys.stderr.write(f"wrote {args.json}\n")
    return 0
