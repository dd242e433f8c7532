"""Per-node sequence numbers that survive restarts and crashes without ever repeating.

All nodes share one small JSON file. Numbers are handed out from blocks reserved on disk
before use: the file always names, per node, a number no reading has used yet. A graceful
close writes the exact next numbers (a restart continues without a gap); after a crash the
restart skips at most one block (a gap, never a duplicate: a duplicate seq with other values
would be taken for a reading already stored).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from envgrid_common.messages import MAX_SEQ

log = logging.getLogger("envgrid.sim")

FORMAT_VERSION = 1
STATE_FILE = "seq.json"
LOCK_FILE = "seq.lock"
FIRST_SEQ = 1


class SeqStateError(RuntimeError):
    """The state file cannot be used (corrupt, or another simulator holds it)."""


class SeqStore:
    """Sequence numbers for many nodes, persisted in ``data_dir/seq.json``."""

    def __init__(self, data_dir: Path, block: int = 20) -> None:
        if block < 1:
            raise ValueError("block must be at least 1")
        self.data_dir = data_dir
        self.path = data_dir / STATE_FILE
        self.block = block
        data_dir.mkdir(parents=True, exist_ok=True)
        self._lock: IO[bytes] | None = self._acquire_lock()
        try:
            self._next: dict[str, int] = self._load()
        except BaseException:
            self._release_lock()
            raise
        # What the file promises has not been used: numbers below it may have been.
        self._reserved: dict[str, int] = dict(self._next)

    def _acquire_lock(self) -> IO[bytes]:
        handle = (self.data_dir / LOCK_FILE).open("ab")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise SeqStateError(
                f"another simulator is using {self.data_dir} (choose another --data-dir)"
            ) from None
        return handle

    def _release_lock(self) -> None:
        if self._lock is not None:
            self._lock.close()  # closing drops the flock
            self._lock = None

    def _load(self) -> dict[str, int]:
        if not self.path.exists():
            return {}
        try:
            data: Any = json.loads(self.path.read_text(encoding="utf-8"))
            nodes = data["nodes"]
            if data.get("version") != FORMAT_VERSION or not isinstance(nodes, dict):
                raise ValueError("unexpected layout")
            loaded = {str(k): int(v) for k, v in nodes.items()}
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            # Starting again from 1 would repeat sequence numbers the cloud already has.
            raise SeqStateError(
                f"{self.path} is unreadable ({error}); fix it, or delete it only if the "
                "receiving system is reset too"
            ) from None
        return loaded

    def next(self, node_id: str) -> int:
        """The next sequence number of ``node_id``, reserved on disk before it is returned."""
        if self._lock is None:
            raise RuntimeError("sequence store is closed")
        seq = self._next.setdefault(node_id, FIRST_SEQ)
        if seq >= MAX_SEQ:
            raise OverflowError(f"node {node_id}: sequence numbers exhausted")
        if seq >= self._reserved.get(node_id, FIRST_SEQ):
            self._top_up()
        self._next[node_id] = seq + 1
        return seq

    def prepare(self, node_ids: Iterable[str]) -> None:
        """Reserve a first block for every node at once (one write instead of one per node)."""
        for node_id in node_ids:
            self._next.setdefault(node_id, FIRST_SEQ)
        self._top_up()

    def peek(self, node_id: str) -> int:
        """The number :meth:`next` would return, without taking it."""
        return self._next.get(node_id, FIRST_SEQ)

    def _top_up(self) -> None:
        # Top up every node that is running low, not just the one that ran out: fewer writes.
        for node_id, start in self._next.items():
            if self._reserved.get(node_id, FIRST_SEQ) - start <= self.block // 2:
                self._reserved[node_id] = min(start + self.block, MAX_SEQ)
        self._write(self._reserved)

    def save(self) -> None:
        """Write the exact next numbers (after this, a crash loses no numbers)."""
        self._reserved = dict(self._next)
        self._write(self._next)

    def close(self, *, clean: bool = True) -> None:
        """Save the exact state (``clean``) or leave the reservations (a simulated crash)."""
        if self._lock is None:
            return
        try:
            if clean:
                self.save()
        finally:
            self._release_lock()

    def _write(self, nodes: dict[str, int]) -> None:
        body = json.dumps({"version": FORMAT_VERSION, "nodes": dict(sorted(nodes.items()))})
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        with tmp.open("w", encoding="utf-8") as handle:
            handle.write(body + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)
        # The rename itself must reach the disk, or a power cut could bring the old file back.
        dir_fd = os.open(self.data_dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        log.debug("sequence state saved to %s", self.path)

    def __enter__(self) -> SeqStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
