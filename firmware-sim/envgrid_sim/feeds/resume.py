"""Where a replay stands: the first record not yet settled, kept in a small JSON file."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import orjson

Position = tuple[int, int]  # (index of the file in the replay's list, record index in it)
START: Position = (0, 0)


@dataclass(frozen=True, slots=True)
class ReplayState:
    """A replay's place: every record before ``position`` was acknowledged, refused or skipped.

    Put another way, ``position`` follows the last contiguous acknowledged record. ``offset_s``
    is the time shift in use, so a resumed replay stamps its readings as the first part did.
    """

    files: tuple[str, ...]
    position: Position
    offset_s: int

    def to_json(self) -> bytes:
        """The state file's contents."""
        file_index, record = self.position
        current = self.files[file_index] if file_index < len(self.files) else None
        return orjson.dumps(
            {
                "files": list(self.files),
                "file_index": file_index,
                "file": current,
                "record": record,
                "offset_s": self.offset_s,
            },
            option=orjson.OPT_INDENT_2,
        )


def save_state(path: Path, state: ReplayState) -> None:
    """Write the state atomically: a reader (or a resume after a crash) sees old or new."""
    partial = path.with_name(path.name + ".part")
    partial.write_bytes(state.to_json())
    os.replace(partial, path)


def load_state(path: Path, files: list[Path]) -> ReplayState:
    """The saved state of a replay of ``files``; ValueError if it is for other files."""
    try:
        doc = orjson.loads(path.read_bytes())
        saved = tuple(str(f) for f in doc["files"])
        position = (int(doc["file_index"]), int(doc["record"]))
        offset_s = int(doc["offset_s"])
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{path}: not a replay state file ({error})") from None
    given = tuple(str(f) for f in files)
    if saved != given:
        raise ValueError(
            f"{path}: saved for a replay of {len(saved)} other file(s) "
            f"({', '.join(saved[:3])}{'…' if len(saved) > 3 else ''}); give the same files"
        )
    return ReplayState(saved, position, offset_s)
