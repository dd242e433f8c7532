"""The closed loop (闭环) as data: each action, the states it applies to, where it leads, who may.

raised ─dispatch→ dispatched ─acknowledge→ acknowledged ─inspect→ inspecting ─rectify→
rectifying ─report→ reported ─close→ closed; a reviewer may reject a report (back to rectifying),
reassign a case still being worked (back to dispatched: the new officer signs for it), or dismiss
any open case as a false alarm with a reason. An officer may claim a case no grid officer was
found for (raised → acknowledged, theirs). Anyone who may see a case may comment on it, in any
state; nothing else is accepted by closed and dismissed cases. The rules never appear here: a
condition clearing is recorded on the case, only a person closes it.
"""

from __future__ import annotations

from dataclasses import dataclass

from envgrid_cloud.cases.errors import IllegalMove, NotPermitted
from envgrid_cloud.cases.model import OPEN_STATES, Action, CaseState, Role

S = CaseState
# Whoever is assigned the case works it, whatever their role: an escalated case may land on a
# reviewer, who must be able to sign for it. Who is assigned is checked in transitions.act.
WORKERS = frozenset(Role)
REVIEWERS = frozenset({Role.REVIEWER, Role.ADMIN})


@dataclass(frozen=True, slots=True)
class Move:
    """One action of the loop."""

    action: Action
    sources: frozenset[CaseState]
    target: CaseState | None  # None: the case stays where it is (a comment)
    roles: frozenset[Role]
    needs_reason: bool = False  # the actor must say why (dismiss)
    needs_assignee: bool = False  # the actor must name the officer (reassign)
    needs_notes: bool = False  # the actor must write something (comment)


MOVES: dict[Action, Move] = {
    m.action: m
    for m in (
        Move(Action.DISPATCH, frozenset({S.RAISED}), S.DISPATCHED, REVIEWERS),
        Move(
            Action.REASSIGN,
            frozenset({S.DISPATCHED, S.ACKNOWLEDGED, S.INSPECTING, S.RECTIFYING}),
            S.DISPATCHED,
            REVIEWERS,
            needs_assignee=True,
        ),
        Move(Action.ACKNOWLEDGE, frozenset({S.DISPATCHED}), S.ACKNOWLEDGED, WORKERS),
        Move(Action.INSPECT, frozenset({S.ACKNOWLEDGED}), S.INSPECTING, WORKERS),
        Move(Action.RECTIFY, frozenset({S.INSPECTING}), S.RECTIFYING, WORKERS),
        # From inspecting too: an inspection that finds nothing to put right is reported as is.
        Move(Action.REPORT, frozenset({S.INSPECTING, S.RECTIFYING}), S.REPORTED, WORKERS),
        Move(Action.REJECT, frozenset({S.REPORTED}), S.RECTIFYING, REVIEWERS),
        Move(Action.CLOSE, frozenset({S.REPORTED}), S.CLOSED, REVIEWERS),
        Move(Action.DISMISS, OPEN_STATES, S.DISMISSED, REVIEWERS, needs_reason=True),
        Move(Action.CLAIM, frozenset({S.RAISED}), S.ACKNOWLEDGED, WORKERS),
        Move(Action.COMMENT, frozenset(S), None, WORKERS, needs_notes=True),
    )
}

WORKER_ACTIONS = frozenset(
    a for a, m in MOVES.items() if m.roles == WORKERS and a is not Action.COMMENT
)


def allowed_from(state: CaseState) -> list[Action]:
    """The moves that apply to a case in ``state``, in loop order (a comment is not a move)."""
    return [
        action
        for action, move in MOVES.items()
        if state in move.sources and action is not Action.COMMENT
    ]


def _roles(move: Move) -> str:
    return ", ".join(role for role in Role if role in move.roles)


def check(state: CaseState, action: Action, role: Role) -> CaseState:
    """The state ``action`` by a ``role`` leads to from ``state`` (the same for a comment);
    refuse an illegal move.

    The state is checked before the role: a move that makes no sense is ``IllegalMove`` for
    everybody, a legal move by the wrong role is ``NotPermitted``.
    """
    move = MOVES[action]
    if state not in move.sources:
        legal = allowed_from(state)
        if legal:
            options = "; ".join(f"{a} (by {_roles(MOVES[a])})" for a in legal)
            allowed = f"from {state} the allowed actions are: {options}"
        else:
            allowed = f"nothing is allowed from {state}: the case has left the loop"
        raise IllegalMove(f"cannot {action} a case that is {state}; {allowed}")
    if role not in move.roles:
        raise NotPermitted(f"a {role} may not {action} a case; {action} is for: {_roles(move)}")
    return state if move.target is None else move.target
