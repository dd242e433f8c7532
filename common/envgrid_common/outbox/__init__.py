"""The outbox: a disk-backed queue (SQLite, WAL) and the sender that empties it."""

from envgrid_common.outbox.message import Kind, OutMessage, Row, mark_historical, wire_payload
from envgrid_common.outbox.sender import Sender, SenderStats, Will
from envgrid_common.outbox.store import Bounds, Durability, Outbox, OutboxLocked, OutboxStats

__all__ = [
    "Bounds",
    "Durability",
    "Kind",
    "OutMessage",
    "Outbox",
    "OutboxLocked",
    "OutboxStats",
    "Row",
    "Sender",
    "SenderStats",
    "Will",
    "mark_historical",
    "wire_payload",
]
