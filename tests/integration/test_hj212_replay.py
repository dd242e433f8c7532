"""``envgrid hj212 replay`` against a tiny platform: one connection per MN, answers matched by
QN, refused frames sent as they are, recorded pace, and the real platform log."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest

from envgrid_cli.main import main
from envgrid_common.hj212 import CrcMode, Edition, build_frame, make_flag
from envgrid_gateway.hj212_replay import Replayer, read_replay
from tests.integration.hj212_server import PlatformThread, TinyPlatform
from tests.polling import wait_until
from tests.unit.hj212_data import REAL_LOG, needs_real_log


def _frame(mn: str, minute: int, *, ack: bool = True, crc: CrcMode = CrcMode.STANDARD) -> bytes:
    return build_frame(
        st="32",
        cn="2011",
        pw="123456",
        mn=mn,
        qn=f"202403011{minute:02d}00000"[:17].ljust(17, "0"),
        flag=make_flag(Edition.HJ212_2017, ack=ack),
        cp=f"DataTime=2024030112{minute:02d}00;w01018-Rtd=23.5,w01018-Flag=N",
        crc=crc,
    ).rstrip(b"\r\n")


def _log(tmp_path: Path) -> Path:
    lines = [
        b"2024-03-01 12:00:00 " + _frame("MNA0000001", 0),
        b"2024-03-01 12:00:01 " + _frame("MNB0000002", 1, crc=CrcMode.MODBUS_LE),
        b"2024-03-01 12:00:02 " + _frame("MNA0000001", 2, ack=False),
        b"2024-03-01 12:00:03 " + _frame("MNB0000002", 3)[:-4] + b"0000",  # CRC wrong
    ]
    path = tmp_path / "log.h212"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


@pytest.mark.asyncio
async def test_replay_opens_a_connection_per_mn_and_matches_answers(tmp_path: Path) -> None:
    platform = TinyPlatform()
    await platform.start()
    try:
        raw = list(enumerate(_log(tmp_path).read_bytes().splitlines(), start=1))
        replayer = Replayer("127.0.0.1", platform.port)
        await replayer.send(read_replay(raw))
        await replayer.wait_answers(5.0)
        await replayer.close()
    finally:
        await platform.stop()
    stats = replayer.stats
    assert (stats.lines, stats.sent, stats.not_sent) == (4, 4, 0)
    assert stats.connections == platform.connections == 2
    assert (stats.wanting_answer, stats.answered) == (2, 2)
    assert stats.answers == {"9014": 2}
    assert stats.checked_ok == 3
    assert sum(stats.checked_refused.values()) == 1
    assert len(platform.frames) == 3  # the tiny platform refuses the bad CRC too
    assert len(platform.errors) == 1


def test_replay_command_keeps_the_recorded_pace_and_prints_a_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = tmp_path / "summary.json"
    with PlatformThread() as platform:
        started = time.monotonic()
        status = main(
            [
                "hj212",
                "replay",
                str(_log(tmp_path)),
                "--to",
                f"127.0.0.1:{platform.port}",
                "--pace",
                "recorded",
                "--speed",
                "4",
                "--json",
                str(summary),
                "-v",
            ]
        )
        took = time.monotonic() - started
    out = capsys.readouterr().out
    assert status == 0
    # Three seconds recorded at 4×: at least 0.75 s (a lower bound, not a speed check).
    assert took >= 0.75
    assert "sent line 1: CN=2011 MN=MNA0000001" in out
    assert "answer 9014 MN=MNB0000002" in out
    assert "answers wanted 2, answered 2" in out
    assert "crc_mismatch" in out
    result = orjson.loads(summary.read_bytes())
    assert result["sent"] == 4
    assert result["mns"] == 2
    assert result["checked_refused"] == {"crc_mismatch": 1}


def test_replay_says_when_the_listener_is_not_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with PlatformThread() as platform:
        port = platform.port
    status = main(["hj212", "replay", str(_log(tmp_path)), "--to", f"127.0.0.1:{port}"])
    out = capsys.readouterr().out
    assert status == 1
    assert "frames sent 0" in out
    assert "not sent 4" in out


@needs_real_log
def test_the_real_platform_log_is_sent_whole(tmp_path: Path) -> None:
    summary = tmp_path / "summary.json"
    with PlatformThread() as platform:
        status = main(
            [
                "hj212",
                "replay",
                str(REAL_LOG),
                "--to",
                f"127.0.0.1:{platform.port}",
                "--retime",
                "yesterday",
                "--wait",
                "5",
                "--json",
                str(summary),
            ]
        )
        result = orjson.loads(summary.read_bytes())
        # The platform may still be reading the last bytes when the replay has closed.
        wait_until(lambda: len(platform.frames) >= result["checked_ok"], 20, "the last frames")
        received = len(platform.frames)
        errors = [error.reason.value for error in platform.errors]
    lines = len(REAL_LOG.read_bytes().splitlines())
    assert result["lines"] == result["sent"] == lines
    refused = sum(result["checked_refused"].values())
    assert result["checked_ok"] + refused == lines
    # What the tiny platform parsed is what the replay's own check accepted.
    assert received == result["checked_ok"]
    # A stream framer may fold a broken line into the refused run before it: at most as many.
    assert 0 < len(errors) <= refused
    assert status == 0
