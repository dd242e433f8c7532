"""The closed loop as data: every legal move, every illegal one refused with a clear message."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from envgrid_cloud.cases.errors import IllegalMove, NotPermitted
from envgrid_cloud.cases.model import OPEN_STATES, Action, CaseState, Role
from envgrid_cloud.cases.states import MOVES, allowed_from, check

S, A, R = CaseState, Action, Role
WORKER = {R.GRID_OFFICER, R.REVIEWER, R.ADMIN}
REVIEW = {R.REVIEWER, R.ADMIN}

# The loop written out by hand, independently of the table: (from, action) → (to, roles).
LEGAL: dict[tuple[CaseState, Action], tuple[CaseState, set[Role]]] = {
    (S.RAISED, A.DISPATCH): (S.DISPATCHED, REVIEW),
    (S.DISPATCHED, A.ACKNOWLEDGE): (S.ACKNOWLEDGED, WORKER),
    (S.ACKNOWLEDGED, A.INSPECT): (S.INSPECTING, WORKER),
    (S.INSPECTING, A.RECTIFY): (S.RECTIFYING, WORKER),
    (S.INSPECTING, A.REPORT): (S.REPORTED, WORKER),
    (S.RECTIFYING, A.REPORT): (S.REPORTED, WORKER),
    (S.REPORTED, A.REJECT): (S.RECTIFYING, REVIEW),
    (S.REPORTED, A.CLOSE): (S.CLOSED, REVIEW),
    **{(s, A.REASSIGN): (S.DISPATCHED, REVIEW)
       for s in (S.DISPATCHED, S.ACKNOWLEDGED, S.INSPECTING, S.RECTIFYING)},
    **{(s, A.DISMISS): (S.DISMISSED, REVIEW) for s in OPEN_STATES},
    (S.RAISED, A.CLAIM): (S.ACKNOWLEDGED, WORKER),
    # A comment is a note on the file in any state: the case stays where it is.
    **{(s, A.COMMENT): (s, WORKER) for s in S},
}  # fmt: skip

ALL = list(itertools.product(CaseState, Action, Role))


@pytest.mark.parametrize(("state", "action", "role"), ALL)
def test_every_state_action_and_role(state: CaseState, action: Action, role: Role) -> None:
    legal = LEGAL.get((state, action))
    if legal is None:
        with pytest.raises(IllegalMove) as caught:
            check(state, action, role)
        message = str(caught.value)
        # What was tried, from which state, and what is allowed from there.
        assert f"cannot {action} a case that is {state}" in message
        allowed = allowed_from(state)
        if allowed:
            assert f"from {state} the allowed actions are:" in message
            for option in allowed:
                assert option.value in message
        else:
            assert "nothing is allowed" in message
        return
    target, roles = legal
    if role in roles:
        assert check(state, action, role) is target
    else:
        with pytest.raises(NotPermitted) as refused:
            check(state, action, role)
        assert str(refused.value).startswith(f"a {role} may not {action} a case")
        assert "reviewer, admin" in str(refused.value)


def test_the_table_is_the_loop_written_out() -> None:
    table = {(s, a): (m.target or s, set(m.roles)) for a, m in MOVES.items() for s in m.sources}
    assert table == LEGAL


def test_only_a_person_closes_and_finished_cases_accept_nothing() -> None:
    assert MOVES[A.CLOSE].sources == {S.REPORTED}
    assert MOVES[A.CLOSE].roles == {R.REVIEWER, R.ADMIN}
    assert allowed_from(S.CLOSED) == allowed_from(S.DISMISSED) == []  # comments aside
    assert MOVES[A.COMMENT].needs_notes
    assert MOVES[A.DISMISS].needs_reason
    assert MOVES[A.REASSIGN].needs_assignee


def test_a_grid_officer_closing_is_told_who_may() -> None:
    with pytest.raises(NotPermitted, match="a grid_officer may not close a case; close is for"):
        check(S.REPORTED, A.CLOSE, R.GRID_OFFICER)
    with pytest.raises(
        IllegalMove, match="cannot close a case that is rectifying; from rectifying"
    ):
        check(S.RECTIFYING, A.CLOSE, R.REVIEWER)


def test_every_state_is_reachable_from_raised() -> None:
    seen, frontier = {S.RAISED}, [S.RAISED]
    while frontier:
        state = frontier.pop()
        for action in allowed_from(state):
            target = MOVES[action].target or state
            if target not in seen:
                seen.add(target)
                frontier.append(target)
    assert seen == set(CaseState)


@given(st.lists(st.tuples(st.sampled_from(Action), st.sampled_from(Role)), max_size=60))
def test_random_moves_never_leave_the_loop(moves: list[tuple[Action, Role]]) -> None:
    state = S.RAISED
    for action, role in moves:
        try:
            after = check(state, action, role)
        except (IllegalMove, NotPermitted):
            continue  # refused: the state is unchanged
        assert (state, action) in LEGAL
        assert role in LEGAL[(state, action)][1]
        assert after is LEGAL[(state, action)][0]
        assert state in OPEN_STATES or after is state  # nothing leaves closed or dismissed
        state = after
    assert state in set(CaseState)
