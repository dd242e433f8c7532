"""The outbox: a disk-backed queue (SQLite, WAL) and the one engine that forwards from it."""

from envgrid_common.outbox.message import Kind, OutMessage, Row, mark_historical, wire_payload
from envgrid_common.outbox.publisher import DELIVERED, Puback, Publisher, Settle, Settlements
from envgrid_common.outbox.pump import Pump, PumpStats
from envgrid_common.outbox.sender import Sender, SenderStats, Will
from envgrid_common.outbox.store import Bounds, Durability, Outbox, OutboxLocked, OutboxStats

__all__ = [
    "DELIVERED",
    "Bounds",
    "Durability",
    "Kind",
    "OutMessage",
    "Outbox",
    "OutboxLocked",
    "OutboxStats",
    "Puback",
    "Publisher",
    "Pump",
    "PumpStats",
    "Row",
    "Sender",
    "SenderStats",
    "Settle",
    "Settlements",
    "Will",
    "mark_historical",
    "wire_payload",
]
