"""Detection rules: camera incidents open with confidence, end to clear, concurrently."""

from __future__ import annotations

from datetime import timedelta

from envgrid_cloud.cases.model import Severity
from envgrid_cloud.observations import DetectionRecord
from envgrid_cloud.rules.model import DetectionRule
from envgrid_common.messages import Detection, DetectionKind, DetectionPhase
from tests.unit.test_rules_support import T0, at, detail_json, kinds, run

BURNING = DetectionRule(
    id="burning",
    severity=Severity.CRITICAL,
    title="疑似秸秆焚烧",
    kinds=(DetectionKind.SMOKE, DetectionKind.FLAME),
    min_confidence=0.6,
)
_seq = iter(range(1, 10_000))


def event(
    minutes: float,
    event_id: str,
    phase: str,
    confidence: float = 0.8,
    kind: str = "smoke",
    *,
    historical: bool = False,
) -> DetectionRecord:
    """A detection message ``minutes`` after T0."""
    return DetectionRecord(
        "cam-1",
        at(minutes),
        next(_seq),
        event_id,
        DetectionKind(kind),
        DetectionPhase(phase),
        confidence,
        historical,
    )


def test_an_incident_breaches_on_new_and_update_and_clears_on_end() -> None:
    _, findings = run(
        BURNING, [event(0, "e1", "new"), event(1, "e1", "update"), event(5, "e1", "end")]
    )
    assert kinds(findings) == ["breach", "breach", "clear"]
    new = findings[0]
    assert new is not None
    assert (new.metric, new.value) == ("smoke", 0.8)
    assert detail_json(new)["event_id"] == "e1"


def test_an_incident_below_min_confidence_is_ignored_end_and_all() -> None:
    _state, findings = run(BURNING, [event(0, "e1", "new", 0.4), event(2, "e1", "end", 0.4)])
    assert findings == [None, None]
    _, findings = run(BURNING, [event(0, "e2", "new", 0.4), event(1, "e2", "update", 0.7)])
    assert kinds(findings) == [None, "breach"]  # confident enough on its update


def test_the_clear_waits_for_the_last_open_incident() -> None:
    events = [event(0, "e1", "new"), event(1, "e2", "new", kind="flame"), event(3, "e1", "end")]
    state, findings = run(BURNING, events)
    assert kinds(findings) == ["breach", "breach", None]
    _, findings = run(BURNING, [event(4, "e2", "end", kind="flame")], state)
    assert kinds(findings) == ["clear"]


def test_other_kinds_are_not_this_rules() -> None:
    smoke_only = BURNING.model_copy(update={"kinds": (DetectionKind.SMOKE,)})
    state, findings = run(smoke_only, [event(0, "e1", "new", kind="flame")])
    assert state is None
    assert findings == [None]


def test_historical_incidents_count_and_late_messages_are_ignored() -> None:
    state, findings = run(BURNING, [event(0, "e1", "new", historical=True)])
    assert kinds(findings) == ["breach"]
    late = DetectionRecord("cam-1", at(-1), 0, "e1", DetectionKind.SMOKE, DetectionPhase.END, 0.9)
    state, findings = run(BURNING, [late], state)
    assert findings == [None]
    assert state is not None
    assert "e1" in state["open"]


def test_events_come_from_wire_messages_as_the_ingest_records_them() -> None:
    message = Detection(
        seq=7,
        ts=T0,
        event_id="e9",
        kind=DetectionKind.FLAME,
        phase=DetectionPhase.NEW,
        confidence=0.9,
    )
    from_wire = DetectionRecord.from_detection("cam-1", message)
    fields = DetectionRecord("cam-1", T0, 7, "e9", DetectionKind.FLAME, DetectionPhase.NEW, 0.9)
    assert fields == from_wire
    _, findings = run(BURNING, [from_wire])
    assert kinds(findings) == ["breach"]
    assert from_wire.ts + timedelta(0) == T0
