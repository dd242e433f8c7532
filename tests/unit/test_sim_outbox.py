"""The simulator's outbox: one file for the township, seq carried over from seq.json, one user."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from envgrid_common.outbox import OutboxLocked
from envgrid_common.sequence import seq_counter
from envgrid_sim.settings import SimSettings
from envgrid_sim.township import OUTBOX_FILE, carry_over_legacy_seqs, open_outbox


def test_sequence_numbers_continue_from_an_older_seq_json(tmp_path: Path) -> None:
    nodes = {"a": 42, "b": 3}
    (tmp_path / "seq.json").write_text(json.dumps({"version": 1, "nodes": nodes}))
    settings = SimSettings(sim_data_dir=tmp_path)
    with open_outbox(settings) as outbox:
        outbox.put([], counters={seq_counter("b"): 10})  # the outbox is already further on
        carry_over_legacy_seqs(outbox, tmp_path)
        assert outbox.counter(seq_counter("a")) == 42
        assert outbox.counter(seq_counter("b")) == 10, "never goes back"
    assert (tmp_path / OUTBOX_FILE).exists()


def test_one_simulator_per_data_dir(tmp_path: Path) -> None:
    settings = SimSettings(sim_data_dir=tmp_path)
    with open_outbox(settings), pytest.raises(OutboxLocked):
        open_outbox(settings)
    with open_outbox(settings) as outbox:  # free again once the first is closed
        assert len(outbox) == 0
