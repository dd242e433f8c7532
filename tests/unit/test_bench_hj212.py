"""bench/hj212.py: its generated load is accepted and its json baseline holds the same content."""

from __future__ import annotations

import json

from bench.hj212 import as_json, generated_lines
from envgrid_common.hj212 import parse_frame


def test_generated_frames_are_accepted_and_about_the_logs_size() -> None:
    lines = generated_lines(50)
    frames = [parse_frame(line) for line in lines]
    assert {f.cn for f in frames} == {"2011"}
    assert 200 <= sum(map(len, lines)) / len(lines) <= 330


def test_the_json_baseline_carries_each_frames_factors() -> None:
    lines = generated_lines(4)
    texts = as_json([*lines, b"##0000bad"])
    assert len(texts) == 4
    assert json.loads(texts[1])["CP"]["factors"] == parse_frame(lines[1]).factors
