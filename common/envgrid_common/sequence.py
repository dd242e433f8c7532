"""Sequence numbers of a node's messages: where a node keeps its next one, and the first."""

from __future__ import annotations

FIRST_SEQ = 1


def seq_counter(node_id: str) -> str:
    """Name of the outbox counter holding the node's next sequence number."""
    return f"seq/{node_id}"
