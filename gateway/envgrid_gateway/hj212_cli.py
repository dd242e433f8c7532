"""``envgrid hj212 check``: each frame of a file judged as the gateway would, then a summary."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from envgrid_common.clock import utc_now
from envgrid_common.hj212 import (
    EXPLANATIONS,
    CrcMode,
    Frame,
    FrameError,
    Reason,
    Tolerance,
    parse_frame,
)
from envgrid_gateway import hj212_replay

_CRC_CHOICES = ("auto", *(mode.value for mode in CrcMode))


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``hj212`` and its ``check``."""
    parser = commands.add_parser(
        "hj212",
        help="HJ 212 tools: check a file of frames, replay it to a listener",
        description="Tools for HJ 212 (2005/2017/2025) data-acquisition units.",
    )
    tools = parser.add_subparsers(dest="hj212_command", required=True, metavar="TOOL")
    check = tools.add_parser(
        "check",
        help="judge each frame of a file (one a line) and summarise",
        description=(
            "Read frames one a line (a device capture or a platform log; text before '##' on "
            "a line, such as a time stamp, is ignored) and print each one's verdict: accepted "
            "with edition, command, MN and CRC mode, or refused with the reason. Then a "
            "summary. The checks are the gateway's: strict, with only the deviations given "
            "by --tolerate accepted. Exit status: 0 all accepted, 1 some refused, 2 unreadable."
        ),
    )
    check.add_argument("file", type=Path, metavar="FILE", help="frames, one a line ('-': stdin)")
    check.add_argument(
        "--json",
        metavar="OUT",
        help="also write one JSON object a line (line, ok, reason, edition, cn, mn, crc_mode, "
        "factors) to OUT ('-': stdout, instead of the text verdicts)",
    )
    check.add_argument(
        "--crc", choices=_CRC_CHOICES, default="auto", help="CRC mode to require (default auto)"
    )
    check.add_argument(
        "--tolerate",
        default="none",
        metavar="LIST",
        help="deviations to accept, comma-separated: "
        + ", ".join(m.name.lower() for m in Tolerance if m.name and m.name != "NONE")
        + ", all (default none)",
    )
    check.add_argument(
        "-q", "--quiet", action="store_true", help="print refused frames and the summary only"
    )
    check.set_defaults(handler=run_check)
    replay = tools.add_parser(
        "replay",
        help="stream a file of frames to a listener over TCP and count its answers",
        description=(
            "Send the frames of FILE (one a line, as check reads them) to an HJ 212 listener "
            "over TCP, one connection per MN as the devices held them, at the pace the lines' "
            "time-stamp prefixes recorded or as fast as possible; read the answers (9014 for "
            "uploads that ask for one), then print a summary: frames sent, answered, and what "
            "the codec here accepts or refuses, by reason. Exit status: 0 sent, 1 some lines "
            "could not be sent or answers are missing, 2 unreadable file or bad options."
        ),
    )
    replay.add_argument("file", type=Path, metavar="FILE", help="frames, one a line ('-': stdin)")
    replay.add_argument("--to", required=True, metavar="HOST:PORT", help="the listener")
    replay.add_argument(
        "--pace",
        choices=("recorded", "max"),
        default="max",
        help="recorded: as the time prefixes of the lines say (lines without one at once); "
        "max: as fast as possible (default)",
    )
    replay.add_argument(
        "--speed", type=float, default=1.0, metavar="N", help="recorded pace N times faster (1)"
    )
    replay.add_argument(
        "--one-connection",
        action="store_true",
        help="send every frame over one connection (default: one per MN)",
    )
    replay.add_argument(
        "--retime",
        default="0",
        metavar="DAYS",
        help="shift the times (QN, DataTime, ...) of frames that check by DAYS whole days, "
        "re-computing their CRC; 'yesterday': move the log's first day to yesterday, so an "
        "archive older than the gateway's plausibility window is stored (default 0)",
    )
    replay.add_argument(
        "--wait",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="after the last frame, wait up to SECONDS for missing answers (10)",
    )
    replay.add_argument(
        "--progress",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="seconds between progress lines (5; 0: none)",
    )
    replay.add_argument(
        "--json", metavar="OUT", help="also write the summary as one JSON object to OUT ('-')"
    )
    replay.add_argument(
        "-v", "--verbose", action="store_true", help="print every frame sent and answer read"
    )
    replay.set_defaults(handler=run_replay)


@dataclass
class Verdict:
    """What ``check`` says about one line."""

    line: int
    frame: Frame | None = None
    error: FrameError | None = None
    prefix: str = ""

    def as_json(self) -> dict[str, Any]:
        """The ``--json`` object."""
        frame, error = self.frame, self.error
        out: dict[str, Any] = {
            "line": self.line,
            "ok": frame is not None,
            "reason": error.reason.value if error else None,
            "message": error.message if error else None,
            "edition": frame.edition.value if frame else None,
            "cn": frame.cn if frame else None,
            "mn": frame.mn if frame else None,
            "crc_mode": frame.crc_mode.value if frame else None,
            "factors": frame.factors if frame else None,
        }
        if frame is not None:
            out |= {
                "st": frame.st,
                "qn": frame.qn,
                "flag": frame.flag,
                "pnum": frame.pnum,
                "pno": frame.pno,
                "data_time": frame.data_time,
                "fields": frame.cp.fields,
            }
        if self.prefix:
            out["prefix"] = self.prefix
        return out

    def as_text(self) -> str:
        """One line for people."""
        if self.frame is not None:
            f = self.frame
            split = f" packet {f.pno}/{f.pnum}" if f.pnum else ""
            return (
                f"line {self.line}: accepted {f.edition.value} CN={f.cn} MN={f.mn} "
                f"crc={f.crc_mode.value}{split}"
            )
        assert self.error is not None
        return f"line {self.line}: refused {self.error.reason.value}: {self.error.message}"


@dataclass
class Summary:
    """Counts over a file."""

    lines: int = 0
    accepted: int = 0
    refused: Counter[Reason] = field(default_factory=Counter)
    editions: Counter[str] = field(default_factory=Counter)
    commands: Counter[str] = field(default_factory=Counter)
    crc_modes: Counter[str] = field(default_factory=Counter)
    devices: set[str] = field(default_factory=set)

    def add(self, verdict: Verdict) -> None:
        """Count one verdict."""
        self.lines += 1
        if verdict.frame is None:
            assert verdict.error is not None
            self.refused[verdict.error.reason] += 1
            return
        self.accepted += 1
        self.editions[verdict.frame.edition.value] += 1
        self.commands[verdict.frame.cn] += 1
        self.crc_modes[verdict.frame.crc_mode.value] += 1
        self.devices.add(verdict.frame.mn)

    def text(self) -> str:
        """The closing summary."""
        refused = sum(self.refused.values())
        rows = [
            f"frames: {self.lines}, accepted {self.accepted}, refused {refused}",
            f"devices (MN) accepted: {len(self.devices)}",
            "editions: " + _counts(self.editions),
            "commands: " + _counts(self.commands),
            "CRC modes: " + _counts(self.crc_modes),
        ]
        if refused:
            rows.append("refused by reason:")
            rows += [
                f"  {reason.value:18} {count:6}  {EXPLANATIONS[reason]}"
                for reason, count in self.refused.most_common()
            ]
        return "\n".join(rows)


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{key} {count}" for key, count in counter.most_common()) or "none"


def _say(text: str, stream: IO[str]) -> None:
    # The command's output (this module is a command line, named for its protocol).
    stream.write(text + "\n")


def read_lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    """Numbered non-blank lines, without their line ends."""
    for number, raw in enumerate(stream, start=1):
        line = raw.rstrip(b"\r\n")
        if line.strip():
            yield number, line


def judge(
    lines: Iterable[tuple[int, bytes]], *, crc: CrcMode | None, tolerance: Tolerance
) -> Iterator[Verdict]:
    """Each numbered line's verdict."""
    for number, line in lines:
        prefix = b""
        start = line.find(b"##")
        if start > 0:
            # Platform logs may prefix a frame with a time stamp or a direction.
            prefix, line = line[:start], line[start:]
        try:
            frame = parse_frame(line, crc=crc, tolerance=tolerance)
        except FrameError as error:
            yield Verdict(number, error=error, prefix=prefix.decode("utf-8", "replace"))
        else:
            yield Verdict(number, frame=frame, prefix=prefix.decode("utf-8", "replace"))


def run_check(args: argparse.Namespace) -> int:
    """Judge every line of ``args.file``; 0 all accepted, 1 some refused, 2 unreadable."""
    try:
        tolerance = Tolerance.parse(args.tolerate)
    except ValueError as error:
        _say(f"envgrid hj212 check: {error}", sys.stderr)
        return 2
    crc = None if args.crc == "auto" else CrcMode(args.crc)
    summary = Summary()
    json_out: IO[bytes] | None = None
    text_out = sys.stdout
    try:
        source = sys.stdin.buffer if str(args.file) == "-" else args.file.open("rb")
    except OSError as error:
        _say(f"envgrid hj212 check: {error}", sys.stderr)
        return 2
    try:
        if args.json == "-":
            json_out, text_out = sys.stdout.buffer, sys.stderr
        elif args.json:
            json_out = Path(args.json).open("wb")  # noqa: SIM115 - closed in finally
        for verdict in judge(read_lines(source), crc=crc, tolerance=tolerance):
            summary.add(verdict)
            if json_out is not None:
                json_out.write(orjson.dumps(verdict.as_json()) + b"\n")
            if args.json != "-" and not (args.quiet and verdict.frame is not None):
                _say(verdict.as_text(), text_out)
    except OSError as error:
        _say(f"envgrid hj212 check: {error}", sys.stderr)
        return 2
    finally:
        if source is not sys.stdin.buffer:
            source.close()
        if json_out is not None and json_out is not sys.stdout.buffer:
            json_out.close()
        elif json_out is not None:
            json_out.flush()
    _say(summary.text(), text_out)
    return 0 if not summary.refused else 1


def _address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--to {text!r}: expected HOST:PORT")
    return host.strip("[]"), int(port)


def run_replay(args: argparse.Namespace) -> int:
    """Send ``args.file`` to ``args.to``; 0 all sent and answered, 1 not, 2 bad input."""
    try:
        host, port = _address(args.to)
        if args.speed <= 0:
            raise ValueError("--speed must be positive")
        retime = None if args.retime == "yesterday" else int(args.retime)
    except ValueError as error:
        _say(f"envgrid hj212 replay: {error}", sys.stderr)
        return 2
    try:
        if str(args.file) == "-":
            raw = list(read_lines(sys.stdin.buffer))
        else:
            with args.file.open("rb") as source:
                raw = list(read_lines(source))
    except OSError as error:
        _say(f"envgrid hj212 replay: {error}", sys.stderr)
        return 2
    lines = list(hj212_replay.read_replay(raw))
    if retime is None:
        retime = hj212_replay.days_to_yesterday(lines, utc_now())
    if retime:
        lines = list(hj212_replay.read_replay(raw, retime_days=retime))
        _say(f"replay: times moved {retime} days later (CRC re-computed)", sys.stdout)
    if args.pace == "recorded" and not any(line.at for line in lines):
        _say("replay: no line has a time prefix: sending as fast as possible", sys.stdout)
    stats = asyncio.run(_replay(args, host, port, lines))
    _say(stats.text(), sys.stdout)
    if args.json:
        blob = orjson.dumps(stats.as_json()) + b"\n"
        if args.json == "-":
            sys.stdout.buffer.write(blob)
            sys.stdout.flush()
        else:
            Path(args.json).write_bytes(blob)
    complete = not stats.not_sent and stats.answered >= stats.wanting_answer
    return 0 if complete else 1


async def _replay(
    args: argparse.Namespace, host: str, port: int, lines: list[hj212_replay.ReplayLine]
) -> hj212_replay.ReplayStats:
    replayer = hj212_replay.Replayer(
        host,
        port,
        per_mn=not args.one_connection,
        recorded_pace=args.pace == "recorded",
        speed=args.speed,
        on_event=(lambda text: _say(text, sys.stdout)) if args.verbose else None,
    )

    async def report() -> None:
        while True:
            await asyncio.sleep(args.progress)
            replayer.stats.elapsed_s = time.monotonic() - started
            _say(replayer.stats.progress(len(lines)), sys.stdout)

    started = time.monotonic()
    reporter = asyncio.create_task(report()) if args.progress > 0 else None
    try:
        await replayer.send(lines)
        await replayer.wait_answers(args.wait)
    finally:
        if reporter is not None:
            reporter.cancel()
        await replayer.close()
    return replayer.stats
