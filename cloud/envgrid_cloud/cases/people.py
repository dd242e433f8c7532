"""Who may act where: an active officer, within the area of their cell."""

from __future__ import annotations

import psycopg
from psycopg.rows import DictRow

from envgrid_cloud.cases.errors import NotPermitted
from envgrid_cloud.cases.model import Role
from envgrid_cloud.cases.records import Row, officer, within


def active_officer(cur: psycopg.Cursor[DictRow], actor_id: str) -> Row:
    """The officer ``actor_id``, or ``NotPermitted`` if there is none or they are inactive."""
    found = officer(cur, actor_id)
    if found is None:
        raise NotPermitted(f"{actor_id!r} is not an officer")
    if not found["active"]:
        raise NotPermitted(f"officer {actor_id!r} is not active")
    return found


def covers(cur: psycopg.Cursor[DictRow], person: Row, cell_id: str) -> bool:
    """Whether ``cell_id`` is in ``person``'s area (an admin's area is everywhere)."""
    return person["role"] == Role.ADMIN or within(cur, cell_id, person["cell_id"])


def describe(person: Row) -> str:
    """``officer 'x' (grid_officer of cell 'y')`` for messages."""
    return f"officer {person['id']!r} ({person['role']} of cell {person['cell_id']!r})"
