"""Sequence numbers of a swarm's nodes, kept in the township's outbox file a block at a time.

The scale mode keeps readings in memory, not on disk; only the sequence numbers must survive
a restart (the cloud drops a reading whose seq it has seen). Writing each one would cost a
transaction per reading, so a node reserves a block of ``block`` numbers in one write for all
nodes: after a crash the next run starts past the block, leaving a gap, never a repeat.
The counters are the township mode's own, so either mode continues where the other stopped.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from envgrid_common.outbox import Outbox
from envgrid_common.sequence import FIRST_SEQ, seq_counter


class SeqBook:
    """Where each node's next seq is, and how far it may go before reserving again."""

    def __init__(self, path: Path, block: int = 360) -> None:
        self.path = path
        self.block = block
        self._outbox: Outbox | None = None
        self.next: dict[str, int] = {}
        self.limit: dict[str, int] = {}

    def open(self, node_ids: Iterable[str]) -> None:
        """Open the file and reserve a first block for every node (blocking: off the loop)."""
        self._outbox = Outbox(self.path, durability="normal")
        for node_id in node_ids:
            self.next[node_id] = self._outbox.counter(seq_counter(node_id), FIRST_SEQ)
        self.reserve(self.next)

    def reserve(self, node_ids: Iterable[str]) -> None:
        """Move the stored counters of ``node_ids`` a block past where they are (one write)."""
        assert self._outbox is not None
        ahead = {node_id: self.next[node_id] + self.block for node_id in node_ids}
        self._outbox.put([], counters={seq_counter(n): v for n, v in ahead.items()})
        self.limit.update(ahead)

    def running_low(self) -> list[str]:
        """Nodes past half their block: reserve these next."""
        half = self.block // 2
        return [n for n, v in self.next.items() if self.limit[n] - v < half]

    def close(self) -> None:
        """Store exactly where every node is, and close (blocking: off the loop)."""
        if self._outbox is None:
            return
        outbox, self._outbox = self._outbox, None
        try:
            # After a clean stop every seq below ``next`` went out and none above: the next
            # run starts exactly there, without a gap.
            outbox.put([], counters={seq_counter(n): v for n, v in self.next.items()})
        finally:
            outbox.close()
