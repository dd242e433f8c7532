"""``envgrid hj212 check``: each frame of a file judged as the gateway would, then a summary."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import orjson

from envgrid_common.hj212 import (
    EXPLANATIONS,
    CrcMode,
    Frame,
    FrameError,
    Reason,
    Tolerance,
    parse_frame,
)

_CRC_CHOICES = ("auto", *(mode.value for mode in CrcMode))


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``hj212`` and its ``check``."""
    parser = commands.add_parser(
        "hj212",
        help="HJ 212 tools: check a file of frames",
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
