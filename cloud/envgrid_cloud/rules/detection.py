"""Detection rules: a camera incident (smoke, flame) with enough confidence is a breach.

Every ``new`` or ``update`` message of a watched kind at or above ``min_confidence`` is a
breach finding; the incident is then open. Its ``end`` closes it, and when no incident of the
node remains open that is the clear. An incident never confident enough is ignored, end and all.
Historical (late-sent) incidents count like live ones: a fire seen during an outage was a fire.
"""

from __future__ import annotations

from envgrid_cloud.observations import DetectionRecord
from envgrid_cloud.rules.base import Finding, State, Step, cursor, is_stale, iso
from envgrid_cloud.rules.model import DetectionRule
from envgrid_common.messages import DetectionPhase

# Bounds the stored state if a camera never sends its ends; the oldest incidents go first.
MAX_OPEN = 64


def evaluate(rule: DetectionRule, state: State | None, event: DetectionRecord) -> Step:
    """Open, update or end one incident."""
    if event.kind not in rule.kinds or is_stale(state, event.ts, event.seq):
        return Step(state)
    opened: dict[str, str] = dict((state or {}).get("open", {}))
    new: State = {"last": cursor(event.ts, event.seq), "open": opened}
    detail = {
        "event_id": event.event_id,
        "kind": str(event.kind),
        "phase": str(event.phase),
        "confidence": event.confidence,
        "min_confidence": rule.min_confidence,
        "historical": event.historical,
    }
    if event.phase == DetectionPhase.END:
        if opened.pop(event.event_id, None) is None:
            return Step(new)
        if opened:
            return Step(new)
        return Step(new, Finding("clear", event.ts, str(event.kind), event.confidence, detail))
    if event.confidence < rule.min_confidence:
        return Step(new)
    opened[event.event_id] = iso(event.ts)
    new["open"] = dict(sorted(opened.items(), key=lambda item: item[1])[-MAX_OPEN:])
    return Step(new, Finding("breach", event.ts, str(event.kind), event.confidence, detail))
