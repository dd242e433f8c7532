"""HJ 212 frames parsed per second on one core, against baselines measured in the same run.

Part 1 of the issue-13 benchmark (the codec alone); with ``--gateway``, part 2 follows:
sustained frames/s from 300 TCP connections through the gateway to committed rows, against the
MQTT path in the same run (``bench/hj212_gateway.py`` says how).
The load is the real platform log ``../shared/data/hj212/real-2016-08-24-00.h212`` (9,455
lines, 2005 era, 261 bytes a frame on average) when it is there, else generated 2017 frames
of the same size. Every case goes over the same lines, one after another in this process, and
is timed in CPU seconds of this process (one core; other work on the machine counts less than
in wall time). Cases alternate, ``--repeat`` times; the table gives the median and the spread.

(parse)  ``parse_frame``, CRC mode auto-detected: CRC, structure, CP into factors;
(pinned) the same with the CRC mode pinned to the standard's;
(stream) the log as one byte stream through ``StreamFramer`` in 4 KiB reads, then parsed;
(crc)    the HJ 212 CRC of each data segment alone (table-driven, two bytes a step);
(json)   baseline: ``json.loads`` of each frame's content as a JSON object (header fields,
         CP fields and factors: the same information), with the standard library's C parser;
(split)  baseline: a bare ``re.split`` of each line on ``;`` and ``,`` (the least any parser
         does to look at a frame's items; nothing checked, nothing built).

Run: ``.venv/bin/python -m bench.hj212 [--repeat 5] [--generated] [--gateway [--no-rules]]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from envgrid_common.hj212 import (
    CrcMode,
    Edition,
    FrameError,
    StreamFramer,
    crc_standard,
    make_flag,
    parse_frame,
    upload_frames,
)

GOAL = 50_000
_SPLIT = re.compile(rb"[;,]")
REFUSED: dict[str, int] = {}  # frames refused in the last pass of a case (a sanity figure)


def _real_log() -> Path | None:
    root = Path(__file__).resolve().parents[1]
    # ../shared beside the repository; a worktree (/work/wt/NAME) is one level deeper.
    for shared in (root.parent / "shared", root.parent.parent / "shared"):
        path = shared / "data" / "hj212" / "real-2016-08-24-00.h212"
        if path.exists():
            return path
    return None


def generated_lines(count: int = 9455) -> list[bytes]:
    """2017 wastewater and flue-gas uploads about the size of the real log's frames."""
    lines = []
    for n in range(count):
        if n % 2:
            factors = {
                code: {"Rtd": f"{n % 97}.{n % 10}", "Flag": "N"}
                for code in ("w01018", "w21003", "w21011", "w00000", "w01001")
            }
            st = "32"
        else:
            factors = {
                code: {"Rtd": f"{n % 89}.{n % 7}", "ZsRtd": f"{n % 83}.1", "Flag": "N"}
                for code in ("a21026", "a21002", "a34013", "a19001")
            }
            st = "31"
        (frame,) = upload_frames(
            st=st,
            cn="2011",
            pw="123456",
            mn=f"LD1301{n % 300:08d}",
            data_time="20240301120000",
            factors=factors,
            edition=Edition.HJ212_2017,
            qn=f"20240301120000{n % 1000:03d}",
        )
        lines.append(frame.rstrip(b"\r\n"))
    assert make_flag(Edition.HJ212_2017) == 4
    return lines


def as_json(lines: list[bytes]) -> list[str]:
    """Each accepted frame's content as a JSON object: the json baseline's input."""
    out = []
    for line in lines:
        try:
            frame = parse_frame(line)
        except FrameError:
            continue
        content = {
            "QN": frame.qn,
            "ST": frame.st,
            "CN": frame.cn,
            "PW": frame.pw,
            "MN": frame.mn,
            "Flag": frame.flag,
            "CP": {"fields": frame.cp.fields, "factors": frame.factors},
        }
        out.append(json.dumps(content, ensure_ascii=False, separators=(",", ":")))
    return out


def _each(parse: Callable[[bytes], object]) -> Callable[[list[bytes]], int]:
    def run(lines: list[bytes]) -> int:
        refused = 0
        for line in lines:
            try:
                parse(line)
            except FrameError:
                refused += 1
        REFUSED["parse"] = refused
        return len(lines)

    return run


def _stream(lines: list[bytes]) -> int:
    data = b"\r\n".join(lines) + b"\r\n"
    framer = StreamFramer()
    count = refused = 0
    for start in range(0, len(data), 4096):
        for item in framer.feed(data[start : start + 4096]):
            count += 1
            if not isinstance(item, bytes):
                refused += 1
                continue
            try:
                parse_frame(item)
            except FrameError:
                refused += 1
    REFUSED["stream"] = refused
    return count


def _crc(lines: list[bytes]) -> int:
    for line in lines:
        crc_standard(line[6:-4])
    return len(lines)


def _json(texts: list[str]) -> int:
    loads = json.loads
    for text in texts:
        loads(text)
    return len(texts)


def _split(lines: list[bytes]) -> int:
    split = _SPLIT.split
    for line in lines:
        split(line)
    return len(lines)


def timed(run: Callable[[Any], int], load: Any) -> float:
    """Frames per CPU second of this process for one pass."""
    start = time.process_time()
    count = run(load)
    return count / (time.process_time() - start)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the cases alternately and print each run and the summary."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=5, help="runs of each case")
    parser.add_argument("--generated", action="store_true", help="generated frames only")
    parser.add_argument(
        "--gateway",
        action="store_true",
        help="part 2: through the gateway to PostgreSQL, with the MQTT path in the same run",
    )
    parser.add_argument("--connections", type=int, default=300, help="TCP units (part 2)")
    parser.add_argument("--frames", type=int, default=100, help="frames per unit (part 2)")
    parser.add_argument(
        "--stall-s", type=float, default=60.0, help="part 2: give up when nothing commits this long"
    )
    parser.add_argument(
        "--no-rules",
        action="store_true",
        help="part 2: both ingests without the rules (the gateway paths alone compared)",
    )
    args = parser.parse_args(argv)
    log = None if args.generated else _real_log()
    if log is not None:
        lines = [ln.rstrip(b"\r") for ln in log.read_bytes().split(b"\n") if ln.strip()]
        source = f"{log.name}"
    else:
        lines = generated_lines()
        source = "generated 2017 frames"
    texts = as_json(lines)
    size = sum(map(len, lines)) / len(lines)
    print(f"{len(lines):,} lines from {source}, {size:.0f} bytes a line on average", flush=True)
    cases: dict[str, tuple[Callable[[Any], int], Any]] = {
        "parse": (_each(parse_frame), lines),
        "pinned": (_each(lambda line: parse_frame(line, crc=CrcMode.STANDARD)), lines),
        "stream": (_stream, lines),
        "crc": (_crc, lines),
        "json": (_json, texts),
        "split": (_split, lines),
    }
    rates: dict[str, list[float]] = {case: [] for case in cases}
    for rep in range(args.repeat):
        row = []
        for case, (run, load) in cases.items():
            rate = timed(run, load)
            rates[case].append(rate)
            row.append(f"{case} {rate:,.0f}")
        print(f"  run {rep + 1}: " + ", ".join(row) + " frames/s", flush=True)
    print()
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    medians = {case: statistics.median(values) for case, values in rates.items()}
    for case, values in rates.items():
        print(
            f"{case:<7} median {medians[case]:>10,.0f} frames/s ({1e6 / medians[case]:5.1f} µs a "
            f"frame; min {min(values):,.0f}, max {max(values):,.0f})"
        )
    print(f"refused in each pass: parse {REFUSED['parse']}, stream {REFUSED['stream']}")
    verdict = "meets" if medians["parse"] >= GOAL else "misses"
    print(f"parse {verdict} the goal of {GOAL:,} frames/s on one core")
    for baseline in ("json", "split"):
        print(f"ratio parse / {baseline}: {medians['parse'] / medians[baseline]:.2f}")
    results: dict[str, Any] = {f"{case}_rate": rate for case, rate in medians.items()} | {
        "ratio_json": medians["parse"] / medians["json"],
        "ratio_split": medians["parse"] / medians["split"],
    }
    if args.gateway:
        results["gateway"] = _part_two(args)
    return results


def _part_two(args: argparse.Namespace) -> dict[str, Any]:
    # Imported here: part 1 needs neither a broker nor a database.
    from bench import hj212_gateway
    from bench.support import bench_database, exit_on_sigterm
    from envgrid_cli.services.mosquitto import MosquittoBroker

    exit_on_sigterm()
    print()
    print(
        f"part 2: {args.connections} units × {args.frames} frames through the gateway "
        "to committed rows, and the MQTT path in the same run",
        flush=True,
    )
    with (
        tempfile.TemporaryDirectory(prefix="envgrid-bench-hj212-") as tmp,
        bench_database("envgrid_bench_hj212") as db,
        MosquittoBroker(Path(tmp) / "broker") as broker,
    ):
        return hj212_gateway.run(
            broker,
            db,
            Path(tmp),
            connections=args.connections,
            per_device=args.frames,
            stall_s=args.stall_s,
            rules=not args.no_rules,
        )


if __name__ == "__main__":
    main()
