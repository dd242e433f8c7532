"""``envgrid hj212 check`` on a generated file and on the real platform log."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from envgrid_cli.main import main
from envgrid_common.hj212 import CrcMode, Edition
from tests.unit.hj212_data import REAL_LOG, needs_real_log, water_frame


def _sample_file(tmp_path: Path) -> Path:
    good = water_frame(edition=Edition.HJ212_2017)
    lines = [
        good,
        b"2024-03-01 12:00:00 RX " + water_frame(edition=Edition.HJ212_2025, crc=CrcMode.MODBUS_LE),
        good[:-6] + b"0000\r\n",  # CRC wrong
        b"\r\n",  # blank: not a frame
        b"##0999" + good[6:],  # length wrong
        water_frame(edition=Edition.HJT212_2005, crlf=False) + b"\n",
    ]
    path = tmp_path / "frames.h212"
    path.write_bytes(b"".join(line if line.endswith(b"\n") else line + b"\n" for line in lines))
    return path


def test_check_prints_each_verdict_and_a_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["hj212", "check", str(_sample_file(tmp_path))]) == 1
    out = capsys.readouterr().out
    assert "line 1: accepted 2017 CN=2011 MN=010000A8900016F000169DC0 crc=standard" in out
    assert "line 2: accepted 2025 CN=2011" in out
    assert "crc=modbus-le" in out
    assert "line 3: refused crc_mismatch" in out
    assert "line 4:" not in out
    assert "line 5: refused length_mismatch" in out
    assert "line 6: accepted 2005" in out
    assert "frames: 5, accepted 3, refused 2" in out
    assert "crc_mismatch" in out.split("refused by reason:")[1]


def test_check_can_pin_the_crc_mode_and_write_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_path = tmp_path / "verdicts.jsonl"
    path = _sample_file(tmp_path)
    assert main(["hj212", "check", str(path), "--crc", "standard", "--json", str(out_path)]) == 1
    rows = [orjson.loads(line) for line in out_path.read_bytes().splitlines()]
    assert [row["line"] for row in rows] == [1, 2, 3, 5, 6]
    assert [row["ok"] for row in rows] == [True, False, False, False, True]
    first = rows[0]
    assert {k: first[k] for k in ("reason", "edition", "cn", "mn", "crc_mode")} == {
        "reason": None,
        "edition": "2017",
        "cn": "2011",
        "mn": "010000A8900016F000169DC0",
        "crc_mode": "standard",
    }
    assert first["factors"]["w21003"] == {"Rtd": "1.20", "Flag": "D"}
    assert rows[1]["reason"] == "crc_mismatch"
    assert rows[1]["prefix"] == "2024-03-01 12:00:00 RX "
    assert "frames: 5, accepted 2, refused 3" in capsys.readouterr().out


def test_check_json_to_stdout_leaves_the_summary_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["hj212", "check", str(_sample_file(tmp_path)), "--json", "-"]) == 1
    captured = capsys.readouterr()
    assert len(captured.out.splitlines()) == 5
    assert "frames: 5" in captured.err


def test_check_refuses_unknown_tolerances_and_missing_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["hj212", "check", str(tmp_path / "none.h212")]) == 2
    assert main(["hj212", "check", str(_sample_file(tmp_path)), "--tolerate", "crc"]) == 2
    assert "unknown tolerance" in capsys.readouterr().err


def test_a_tolerated_length_is_accepted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = water_frame()
    path = tmp_path / "miscounted.h212"
    path.write_bytes(b"##%04d" % (len(good) - 10) + good[6:])
    assert main(["hj212", "check", str(path)]) == 1
    assert main(["hj212", "check", str(path), "--tolerate", "length"]) == 0
    assert "accepted 1, refused 0" in capsys.readouterr().out


@needs_real_log
def test_check_on_the_real_platform_log(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["hj212", "check", "--quiet", str(REAL_LOG)]) == 1
    out = capsys.readouterr().out
    summary = out[out.index("frames:") :]
    assert "frames: 9455, accepted 9441, refused 14" in summary
    assert "editions: 2005 9441" in summary
    assert "CRC modes: standard 9441" in summary
    refused = {
        line.split()[0]: int(line.split()[1])
        for line in summary.split("refused by reason:")[1].strip().splitlines()
    }
    assert refused == {
        "bad_st": 6,
        "length_mismatch": 5,
        "bad_length_field": 1,
        "crc_mismatch": 1,
        "no_header": 1,
    }
    # --quiet: only the refused lines are listed.
    assert out.count(": refused ") == 14
    assert ": accepted " not in out


@needs_real_log
def test_tolerating_odd_system_codes_accepts_the_logs_nul_st_frames(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["hj212", "check", "-q", "--tolerate", "system_code", str(REAL_LOG)]) == 1
    assert "accepted 9447, refused 8" in capsys.readouterr().out
