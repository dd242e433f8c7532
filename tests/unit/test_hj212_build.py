"""Answers, heartbeats and the pollutant-code mapping."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from envgrid_common.hj212 import (
    CODES,
    CrcMode,
    Edition,
    ExeRtn,
    QnRtn,
    build_frame,
    data_answer,
    execution_result,
    heartbeat,
    parse_frame,
    parse_time,
    request_answer,
    required_answer,
    to_metric,
)
from envgrid_common.hj212.codes import scale
from envgrid_common.metrics import METRICS
from tests.unit.hj212_data import water_frame


@pytest.mark.parametrize("edition", [Edition.HJ212_2017, Edition.HJ212_2025])
def test_a_data_answer_has_the_same_qn_and_an_empty_cp(edition: Edition) -> None:
    upload = parse_frame(water_frame(edition=edition, ack=True))
    answer = parse_frame(data_answer(upload))
    assert (answer.cn, answer.st, answer.qn, answer.mn) == ("9014", "91", upload.qn, upload.mn)
    assert answer.edition is edition
    assert not answer.ack_requested
    assert answer.cp.fields == {}
    assert answer.segment.endswith(b"CP=&&&&")


def test_the_2017_answer_matches_a_field_sample_byte_for_byte() -> None:
    # frames.jsonl's 9014 (MN 410183160889201000212505), its CRC printed uppercase.
    sample = (
        b"##0087QN=20201015123632010;ST=91;CN=9014;PW=123456;MN=410183160889201000212505;"
        b"Flag=4;CP=&&&&F001\r\n"
    )
    upload = build_frame(
        st="80",
        cn="2011",
        pw="123456",
        mn="410183160889201000212505",
        qn="20201015123632010",
        flag=5,
        cp="DataTime=20201015123000;w01018-Rtd=1",
    )
    assert data_answer(parse_frame(upload)) == sample


def test_a_2005_answer_carries_the_qn_in_cp() -> None:
    upload = parse_frame(water_frame(edition=Edition.HJT212_2005, ack=True))
    answer = parse_frame(data_answer(upload))
    assert answer.edition is Edition.HJT212_2005
    assert answer.cp.fields["CN"] == "2011"
    assert answer.qn is None


def test_an_answer_is_due_only_when_the_flag_asks() -> None:
    assert required_answer(parse_frame(water_frame(ack=False))) is None
    answer = required_answer(parse_frame(water_frame(ack=True)))
    assert answer is not None
    assert parse_frame(answer).cn == "9014"


@pytest.mark.parametrize("mode", list(CrcMode))
def test_request_and_execution_answers_for_the_virtual_logger(mode: CrcMode) -> None:
    request = parse_frame(water_frame(ack=True))._replace(cn="1062")
    ready = parse_frame(request_answer(request, QnRtn.READY, crc=mode))
    done = parse_frame(execution_result(request, ExeRtn.NO_DATA, crc=mode))
    assert (ready.cn, ready.cp.fields["QnRtn"], ready.crc_mode) == ("9011", "1", mode)
    assert (done.cn, done.cp.fields["ExeRtn"], done.qn) == ("9012", "100", request.qn)


def test_heartbeats_9015_in_2025_and_8013_locally() -> None:
    now = datetime(2026, 3, 1, 4, 0, 0, 250_000, tzinfo=UTC)
    beat = parse_frame(heartbeat(mn="MN01", pw="123456", st="32", now=now))
    assert (beat.cn, beat.edition, beat.qn) == ("9015", Edition.HJ212_2025, "20260301120000250")
    assert beat.qn is not None
    assert parse_time(beat.qn) == now
    local = parse_frame(
        heartbeat(mn="MN01", pw="123456", st="32", now=now, edition=Edition.HJT212_2005)
    )
    assert (local.cn, local.cp.fields["HeartbeatTime"]) == ("8013", "120")


def test_data_time_is_china_time_stored_as_utc() -> None:
    assert parse_time("20160824003817") == datetime(2016, 8, 23, 16, 38, 17, tzinfo=UTC)
    assert parse_time("20160824003817250").microsecond == 250_000
    with pytest.raises(ValueError, match="time stamp"):
        parse_time("20160832003817")


def test_every_mapped_code_names_a_catalogue_metric_in_a_convertible_unit() -> None:
    for code, entry in CODES.items():
        if entry.metric is not None:
            assert entry.metric in METRICS, code
            assert scale(entry.unit, METRICS[entry.metric].unit) is not None, code


def test_both_editions_codes_reach_the_same_metric() -> None:
    assert to_metric("011", 231.0) == to_metric("w01018", 231.0) == ("cod", 231.0)
    assert to_metric("060", 1.8) == ("nh3n", 1.8)
    assert to_metric("B01", 36.91) == ("flow", 36.91)


def test_units_are_converted_and_overridable_per_device() -> None:
    assert to_metric("02", 1.5) == ("so2", 1500.0)  # a stack's mg/m³ into µg/m³
    assert to_metric("a21026", 106.4, st="22") == ("so2", 106.4)  # an ambient station's µg/m³
    assert to_metric("a34004", 24.8) == ("pm25", 24.8)  # PM in µg/m³ by default
    pm_in_mg = to_metric("a34004", 0.0248, overrides={"a34004": "mg/m³"})
    assert pm_in_mg is not None
    assert pm_in_mg[0] == "pm25"
    assert pm_in_mg[1] == pytest.approx(24.8)
    assert to_metric("a34004", 1.0, overrides={"a34004": "°C"}) is None
    assert to_metric("S02", 8.6) is None  # flue-gas velocity has no metric
    assert to_metric("LAMPBLACK", 6.2) is None
