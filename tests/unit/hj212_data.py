"""Shared test data for the HJ 212 tests: the field samples (when present) and frame makers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from envgrid_common.hj212 import CrcMode, Edition, build_frame, make_flag


def _shared() -> Path:
    # ../shared beside the repository (/work/main); a worktree (/work/wt/NAME) is one deeper.
    root = Path(__file__).resolve().parents[2]
    for candidate in (root.parent / "shared", root.parent.parent / "shared"):
        if candidate.is_dir():
            return candidate / "data" / "hj212"
    return root.parent / "shared" / "data" / "hj212"


SHARED = _shared()
FRAMES_JSONL = SHARED / "frames.jsonl"
REAL_LOG = SHARED / "real-2016-08-24-00.h212"

needs_frames = pytest.mark.skipif(
    not FRAMES_JSONL.exists(), reason="../shared/data/hj212/frames.jsonl is not here"
)
needs_real_log = pytest.mark.skipif(
    not REAL_LOG.exists(), reason="../shared/data/hj212/real-2016-08-24-00.h212 is not here"
)


def field_samples() -> list[dict[str, Any]]:
    """The sample frames with their expected verdicts (empty when ../shared is absent)."""
    if not FRAMES_JSONL.exists():
        return []
    lines = FRAMES_JSONL.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


WATER_CP = (
    "DataTime=20240301120000;w01018-Rtd=23.5,w01018-Flag=N;w21003-Rtd=1.20,w21003-Flag=D;"
    "w00000-Rtd=12.5,w00000-Flag=N"
)


def water_frame(
    *,
    edition: Edition = Edition.HJ212_2017,
    crc: CrcMode = CrcMode.STANDARD,
    ack: bool = False,
    cp: str = WATER_CP,
    crlf: bool = True,
) -> bytes:
    """A well-formed 2011 wastewater upload of the given edition and CRC mode."""
    qn = None if edition is Edition.HJT212_2005 else "20240301120000123"
    flag = None if edition is Edition.HJT212_2005 and not ack else make_flag(edition, ack=ack)
    return build_frame(
        st="32",
        cn="2011",
        pw="123456",
        mn="010000A8900016F000169DC0",
        cp=cp,
        qn=qn,
        flag=flag,
        crc=crc,
        crlf=crlf,
    )
