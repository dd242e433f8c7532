"""A replay's saved place: written whole, read back, refused for other files."""

from __future__ import annotations

from pathlib import Path

import pytest

from envgrid_sim.feeds.resume import ReplayState, load_state, save_state


def test_the_state_reads_back_and_names_the_current_file(tmp_path: Path) -> None:
    files = [tmp_path / "a.egfeed", tmp_path / "b.egfeed"]
    state = ReplayState(tuple(str(f) for f in files), (1, 4_321), -86_400)
    path = tmp_path / "state.json"
    save_state(path, state)
    assert load_state(path, files) == state
    assert str(files[1]) in path.read_text()
    assert not (tmp_path / "state.json.part").exists()


def test_a_state_for_other_files_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    save_state(path, ReplayState((str(tmp_path / "a.egfeed"),), (0, 10), 0))
    with pytest.raises(ValueError, match="other file"):
        load_state(path, [tmp_path / "b.egfeed"])


def test_something_else_is_not_a_state(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text('{"files": []}')
    with pytest.raises(ValueError, match="not a replay state"):
        load_state(path, [])
