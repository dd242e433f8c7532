"""Which HJ 212 nodes have a live connection: online on the first, offline when the last goes."""

from __future__ import annotations

from collections.abc import Callable

from envgrid_common.messages import NodeState


class Liveness:
    """Publishes a node's status on its behalf, as a Last Will would for an MQTT node."""

    def __init__(self, publish: Callable[[str, NodeState], None]) -> None:
        self._publish = publish
        self._holders: dict[str, set[int]] = {}  # node → connections that carried its frames
        self._nodes: dict[int, set[str]] = {}  # connection → its nodes

    @property
    def online(self) -> int:
        """Nodes with a live connection."""
        return len(self._holders)

    def seen(self, node_id: str, connection: int) -> None:
        """A frame of ``node_id`` came on ``connection``: online if it was not."""
        holders = self._holders.get(node_id)
        if holders is None:
            holders = self._holders[node_id] = set()
            self._publish(node_id, NodeState.ONLINE)
        if connection not in holders:
            holders.add(connection)
            self._nodes.setdefault(connection, set()).add(node_id)

    def gone(self, connection: int) -> None:
        """``connection`` closed (or went idle): its nodes with no other one go offline."""
        for node_id in sorted(self._nodes.pop(connection, ())):
            holders = self._holders.get(node_id)
            if holders is None:
                continue
            holders.discard(connection)
            if not holders:
                del self._holders[node_id]
                self._publish(node_id, NodeState.OFFLINE)
