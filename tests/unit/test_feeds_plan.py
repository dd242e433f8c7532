"""What a replay does per topic and payload: select, remap, re-stamp."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import orjson
import pytest

from envgrid_common.messages import Reading
from envgrid_common.topics import NodeChannel, Topics
from envgrid_sim.feeds.plan import Planner, Selection, remap_root, restamper, shift_timestamp

SRC = Topics("t-1/envgrid")


def test_topic_roots_are_remapped_whole_levels_only() -> None:
    remap = ("t-1/envgrid", "t-2/envgrid")
    assert remap_root(SRC.readings("n1"), remap) == Topics("t-2/envgrid").readings("n1")
    assert remap_root(SRC.snapshot("cam", "e-1"), remap) == Topics("t-2/envgrid").snapshot(
        "cam", "e-1"
    )
    assert remap_root("t-1/envgridx/v1/nodes/n1/readings", remap) == (
        "t-1/envgridx/v1/nodes/n1/readings"
    )
    assert remap_root("other/topic", remap) == "other/topic"
    assert remap_root(SRC.readings("n1"), None) == SRC.readings("n1")


@pytest.mark.parametrize("spec", ["nothing", ":to", "from:", "a/#:b", "a/:b"])
def test_bad_remaps_are_refused(spec: str) -> None:
    with pytest.raises(ValueError, match=r"FROM:TO|plain"):
        Selection.parse_remap(spec)


def test_filters_and_nodes_select_and_the_plan_knows_the_node() -> None:
    planner = Planner(
        Selection(
            filters=(SRC.any_node(NodeChannel.READINGS), SRC.any_node(NodeChannel.STATUS)),
            nodes=frozenset({"n1"}),
            remap=("t-1/envgrid", "x"),
        )
    )
    plan = planner.plan(SRC.readings("n1"))
    assert plan.topic == "x/v1/nodes/n1/readings"
    assert plan.node_id == "n1"
    assert plan.stamped
    assert planner.plan(SRC.readings("n2")).topic is None  # another node
    assert planner.plan(SRC.detections("n1")).topic is None  # not in the filters
    status = planner.plan(SRC.status("n1"))
    assert status.topic == "x/v1/nodes/n1/status"
    assert not status.stamped
    assert planner.plan(SRC.gateway_status("g1")).topic is None  # no node: not selected


def test_no_selection_replays_every_topic_as_it_was() -> None:
    planner = Planner(Selection())
    for topic in (SRC.readings("n1"), SRC.dead_letter("g1"), "anything/else"):
        assert planner.plan(topic).topic == topic
    assert planner.plan(SRC.snapshot("cam", "e-1")).node_id == "cam"
    assert not planner.plan(SRC.snapshot("cam", "e-1")).stamped


def test_times_shift_by_one_offset_in_their_own_zone() -> None:
    offset = timedelta(seconds=3600 * 24 * 30 + 17)
    assert shift_timestamp("2026-11-01T08:00:00+08:00", offset) == "2026-12-01T08:00:17+08:00"
    assert shift_timestamp("2026-11-01T00:00:00.250Z", offset) == "2026-12-01T00:00:17.250000Z"
    assert shift_timestamp("2026-11-01T00:00:00", offset) is None  # no zone: left alone
    assert shift_timestamp("yesterday", offset) is None
    assert shift_timestamp(12, offset) is None


def test_readings_are_restamped_consistently_and_stay_valid() -> None:
    restamp = restamper(90, historical=True)
    assert restamp is not None
    start = datetime.fromisoformat("2026-11-01T08:00:00+08:00")
    originals = [
        Reading(seq=i, ts=start + timedelta(seconds=5 * i), values={"cod": 30.0 + i})
        for i in range(3)
    ]
    shifted = [
        Reading.model_validate_json(restamp(r.model_dump_json().encode())) for r in originals
    ]
    for before, after in zip(originals, shifted, strict=True):
        assert after.ts - before.ts == timedelta(seconds=90)
        assert after.historical is True
        assert (after.seq, after.values) == (before.seq, before.values)
    # Intervals between readings are kept.
    assert [b.ts - a.ts for a, b in itertools.pairwise(shifted)] == [timedelta(seconds=5)] * 2


def test_historical_can_be_cleared_or_kept() -> None:
    payload = orjson.dumps({"seq": 1, "ts": "2026-11-01T08:00:00+08:00", "historical": True})
    clear = restamper(0, historical=False)
    assert clear is not None
    assert orjson.loads(clear(payload))["historical"] is False
    assert restamper(0, historical=None) is None  # nothing to do: payloads go as recorded
    keep_times = restamper(0, historical=True)
    assert keep_times is not None
    assert keep_times(payload) is payload  # already historical: untouched, byte for byte


@pytest.mark.parametrize(
    "payload", [b"\xff\xd8\xff garbage", b"[1, 2]", b'"ts"', b"", b'{"seq": 1}', b"{bad json"]
)
def test_payloads_that_are_not_stampable_go_byte_for_byte(payload: bytes) -> None:
    restamp = restamper(60, historical=None)
    assert restamp is not None
    assert restamp(payload) == payload
