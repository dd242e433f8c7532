"""Offline rules: a node's status going offline is a breach, coming back online the clear.

A status is a state, not a measurement: findings come on changes only, so a retained status
delivered again (a reconnect, a restart) raises nothing new. A status older than the last one
taken in is ignored.
"""

from __future__ import annotations

from envgrid_cloud.observations import StatusChange
from envgrid_cloud.rules.base import Finding, State, Step, iso, parse_ts
from envgrid_cloud.rules.model import OfflineRule
from envgrid_common.messages import NodeState


def on_status(rule: OfflineRule, state: State | None, change: StatusChange) -> Step:
    """The finding a status change makes, if it is a change."""
    if state and state.get("at") and change.at < parse_ts(state["at"]):
        return Step(state)
    was_offline = bool((state or {}).get("offline"))
    offline = change.state == NodeState.OFFLINE
    new: State = {"at": iso(change.at), "offline": offline}
    if offline == was_offline:
        return Step(new)
    detail = {"state": str(change.state)}
    if offline:
        return Step(new, Finding("breach", change.at, detail=detail))
    return Step(new, Finding("clear", change.at, detail=detail))
