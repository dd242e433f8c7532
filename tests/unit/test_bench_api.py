"""bench/api.py: its command line, its reading of wrk's report, its tables."""

from __future__ import annotations

from collections import Counter

import pytest

from bench.api import Timed, login_table, parse_args, parse_wrk
from bench.support import percentile

WRK_REPORT = """\
Running 4s test @ http://127.0.0.1:40000/api/v1/cases?limit=50
  2 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    12.31ms    3.02ms  41.20ms   80.00%
    Req/Sec   325.10     20.50   370.00     70.00%
  Latency Distribution
     50%   11.80ms
     75%   13.10ms
     90%   15.02ms
     99%    1.20s
  2601 requests in 4.00s, 5.12MB read
  Socket errors: connect 0, read 0, write 0, timeout 2
  Non-2xx or 3xx responses: 3
Requests/sec:    650.25
Transfer/sec:      1.28MB
"""


def test_defaults_keep_the_run_short() -> None:
    args = parse_args([])
    # 11 runs a round (4 requests, 3 of them also as the grid officer), each warmed up and
    # measured, and 4 paired runs: the measuring takes under two and a half minutes.
    assert 11 * args.rounds * (args.warmup_s + args.duration_s) + 4 * args.paired_s <= 150
    assert args.rounds >= 3  # the variants alternate: medians need a few
    assert not args.httpx


def test_nonsense_is_refused() -> None:
    with pytest.raises(SystemExit):
        parse_args(["--rounds", "0"])


def test_wrk_report_is_read_with_units_and_errors() -> None:
    result = parse_wrk(WRK_REPORT)
    assert result.rate == pytest.approx(650.25)
    assert result.p50_ms == pytest.approx(11.8)
    assert result.p99_ms == pytest.approx(1200.0)
    assert result.ok == 2598
    assert result.failed == 5
    assert "timeout 2" in result.first_error
    assert result.taken  # 5 of 2,603 failed: under 1 %


def test_a_wrk_run_that_mostly_failed_is_not_taken() -> None:
    report = WRK_REPORT.replace("Non-2xx or 3xx responses: 3", "Non-2xx or 3xx responses: 2000")
    assert not parse_wrk(report).taken


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([], 0.5) == 0.0
    probes = [float(v) for v in range(1, 21)]
    assert percentile(probes, 0.99) == 20.0  # of 20 probes, the p99 is the worst


def test_login_table_is_markdown() -> None:
    lines = login_table([Timed("right password (200)", [60.0, 62.0, 70.0], Counter({200: 3}))])
    assert lines[0].startswith("| login | n | p50 ms | p99 ms |")
    assert lines[2] == "| right password (200) | 3 | 62.0 | 70.0 | 200 × 3 |"
