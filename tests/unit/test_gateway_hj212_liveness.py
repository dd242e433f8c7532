"""Node liveness on behalf of HJ 212 units, and the pending-registration counts."""

from __future__ import annotations

from envgrid_common.messages import NodeState
from envgrid_gateway.adapters.hj212.liveness import Liveness
from envgrid_gateway.adapters.hj212.pending import PendingMns


def test_a_node_is_online_while_any_connection_carries_it() -> None:
    published: list[tuple[str, NodeState]] = []
    liveness = Liveness(lambda node, state: published.append((node, state)))
    liveness.seen("n1", 1)
    liveness.seen("n1", 1)
    liveness.seen("n1", 2)  # the unit reconnected before the old connection timed out
    assert published == [("n1", NodeState.ONLINE)]
    liveness.gone(1)
    assert liveness.online == 1
    liveness.gone(2)
    liveness.gone(2)
    assert published == [("n1", NodeState.ONLINE), ("n1", NodeState.OFFLINE)]
    assert liveness.online == 0


def test_pending_mns_are_counted_each_and_listed_up_to_a_bound() -> None:
    pending = PendingMns(max_listed=2)
    assert pending.note("A")
    assert not pending.note("A")
    assert pending.note("B")
    assert pending.note("C")  # first seen, though not listed by name
    assert not pending.note("C")
    counters = pending.counters()
    assert counters["hj212_pending_mns"] == 3
    assert counters["hj212_pending_frames"] == 5
    assert counters["hj212_pending_mn.A"] == 2
    assert "hj212_pending_mn.C" not in counters
