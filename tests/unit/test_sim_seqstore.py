"""Sequence numbers across restarts: gapless after a clean stop, never repeated after a crash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from envgrid_sim.seqstore import FIRST_SEQ, SeqStateError, SeqStore


def take(store: SeqStore, node_id: str, count: int) -> list[int]:
    """``count`` numbers of one node."""
    return [store.next(node_id) for _ in range(count)]


def test_counts_up_per_node(tmp_path: Path) -> None:
    with SeqStore(tmp_path) as store:
        assert take(store, "a", 3) == [FIRST_SEQ, FIRST_SEQ + 1, FIRST_SEQ + 2]
        assert take(store, "b", 2) == [FIRST_SEQ, FIRST_SEQ + 1]
        assert store.peek("a") == FIRST_SEQ + 3


def test_clean_restart_continues_without_a_gap(tmp_path: Path) -> None:
    with SeqStore(tmp_path, block=4) as store:
        before = take(store, "a", 10)
    with SeqStore(tmp_path, block=4) as store:
        assert store.next("a") == before[-1] + 1


def test_crash_restart_skips_ahead_but_never_repeats(tmp_path: Path) -> None:
    used: set[int] = set()
    for run in range(5):
        store = SeqStore(tmp_path, block=8)
        numbers = take(store, "a", 3 + run * 5)
        assert not used & set(numbers), f"run {run} repeated {sorted(used & set(numbers))}"
        if used:
            assert min(numbers) - max(used) <= 8  # the gap is at most one block
        used |= set(numbers)
        store.close(clean=False)  # as if killed: nothing written at the end


def test_state_is_one_json_file_written_atomically(tmp_path: Path) -> None:
    with SeqStore(tmp_path, block=5) as store:
        store.prepare(["a", "b", "c"])
        take(store, "a", 12)
    data = json.loads((tmp_path / "seq.json").read_text())
    assert data == {"version": 1, "nodes": {"a": FIRST_SEQ + 12, "b": FIRST_SEQ, "c": FIRST_SEQ}}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seq.json", "seq.lock"]


def test_writes_are_rare(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    writes = []
    original = SeqStore._write

    def counting(self: SeqStore, nodes: dict[str, int]) -> None:
        writes.append(dict(nodes))
        original(self, nodes)

    monkeypatch.setattr(SeqStore, "_write", counting)
    nodes = [f"n{i}" for i in range(20)]
    with SeqStore(tmp_path, block=20) as store:
        store.prepare(nodes)
        for _ in range(40):
            for node in nodes:
                store.next(node)
    # 800 numbers handed out: a handful of reservation writes, one at close.
    assert len(writes) <= 1 + 40 // 10 + 1
    # Every write already covered the numbers in use when it was made.
    assert all(n >= FIRST_SEQ for w in writes for n in w.values())


def test_one_simulator_per_data_dir(tmp_path: Path) -> None:
    with SeqStore(tmp_path), pytest.raises(SeqStateError, match="another simulator"):
        SeqStore(tmp_path)
    with SeqStore(tmp_path) as store:  # free again once the first is closed
        assert store.next("a") >= FIRST_SEQ


def test_corrupt_state_refuses_to_start_from_one(tmp_path: Path) -> None:
    (tmp_path / "seq.json").write_text('{"version": 1, "nodes": {"a": "many"}')
    with pytest.raises(SeqStateError, match="unreadable"):
        SeqStore(tmp_path)
    (tmp_path / "seq.json").write_text('{"version": 9, "nodes": {}}')
    with pytest.raises(SeqStateError, match="unreadable"):
        SeqStore(tmp_path)
    # The lock was released on the way out.
    (tmp_path / "seq.json").unlink()
    with SeqStore(tmp_path) as store:
        assert store.next("a") == FIRST_SEQ


def test_closed_store_hands_out_nothing(tmp_path: Path) -> None:
    store = SeqStore(tmp_path)
    store.close()
    with pytest.raises(RuntimeError, match="closed"):
        store.next("a")
