"""Grid cells found by name, as a census list names them, and the ones it lacks."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

import psycopg
from psycopg.rows import dict_row

from envgrid_cloud.registry.sql import load as load_sql
from envgrid_common.registry import GridCell, GridLevel

# Township names are matched whole first; "芦溪" for "芦溪镇" only when that is unambiguous.
_TOWNSHIP_SUFFIX = re.compile(r"(镇|乡|街道|街道办事处|苏木|民族乡)$")


class PlaceProblem(ValueError):
    """A row's township, village or group cannot be placed in the grid."""


def _stable_id(parent_id: str, tag: str, name: str, taken: set[str]) -> str:
    digest = hashlib.sha1(f"{parent_id}/{name}".encode()).hexdigest()
    for length in (6, 10, 16, 40):
        candidate = f"{parent_id}-{tag}{digest[:length]}"[:64]
        if candidate not in taken:
            return candidate
    raise PlaceProblem(f"no free id for the new cell {name!r}")  # sha1 clashes: never


@dataclass
class Grid:
    """Every cell by id, and the cells a census would add (created on ``commit``)."""

    cells: dict[str, GridCell]
    planned: dict[str, GridCell] = field(default_factory=dict)

    @classmethod
    def load(cls, conn: psycopg.Connection[object]) -> Grid:
        """The grid as stored."""
        with conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(load_sql("grid_cells")).fetchall()
        return cls({row["id"]: GridCell.model_validate(row) for row in rows})

    def _all(self) -> list[GridCell]:
        return [*self.cells.values(), *self.planned.values()]

    def township(self, name: str) -> GridCell:
        """The township of this name, or why none can be chosen."""
        townships = [c for c in self.cells.values() if c.level is GridLevel.TOWNSHIP]
        found = [c for c in townships if c.name == name]
        if not found:
            short = _TOWNSHIP_SUFFIX.sub("", name)
            found = [c for c in townships if _TOWNSHIP_SUFFIX.sub("", c.name) == short]
        if len(found) == 1:
            return found[0]
        if found:
            ids = ", ".join(c.id for c in found)
            raise PlaceProblem(f"township {name!r} is ambiguous: grid cells {ids}")
        known = sorted(c.name for c in townships)
        hint = f" (known: {', '.join(known[:8])}{' …' if len(known) > 8 else ''})" if known else ""
        raise PlaceProblem(f"unknown township {name!r}{hint}")

    def child(self, parent: GridCell, name: str) -> GridCell:
        """The cell named ``name`` under ``parent`` (a group may omit its village's name).

        A missing one is planned as a new cell, created when the row that names it is stored.
        """
        level = GridLevel.VILLAGE if parent.level is GridLevel.TOWNSHIP else GridLevel.GROUP
        children = [c for c in self._all() if c.parent_id == parent.id]
        found = [c for c in children if c.name == name]
        if not found and level is GridLevel.GROUP:
            # Groups are often named in full ("东阳村二组") while a list says only "二组".
            found = [c for c in children if c.name == f"{parent.name}{name}"]
        if len(found) > 1:
            ids = ", ".join(c.id for c in found)
            raise PlaceProblem(f"{level.value} {name!r} is ambiguous: grid cells {ids}")
        if found:
            return found[0]
        taken = set(self.cells) | set(self.planned)
        tag = "v" if level is GridLevel.VILLAGE else "g"
        cell = GridCell(
            id=_stable_id(parent.id, tag, name, taken), level=level, name=name, parent_id=parent.id
        )
        self.planned[cell.id] = cell
        return cell

    def place(self, township: str, village: str | None, group: str | None) -> GridCell:
        """The most specific cell a row names."""
        cell = self.township(township)
        if group and not village:
            raise PlaceProblem(f"villager group {group!r} is given without its village (村)")
        if village:
            cell = self.child(cell, village)
        if group:
            cell = self.child(cell, group)
        return cell

    def lineage(self, cell_id: str) -> list[str]:
        """``cell_id`` and every cell above it, nearest first."""
        chain: list[str] = []
        current: str | None = cell_id
        while current is not None and current not in chain:
            chain.append(current)
            cell = self.cells.get(current) or self.planned.get(current)
            current = cell.parent_id if cell else None
        return chain

    def township_of(self, cell_id: str) -> str | None:
        """The township a cell lies in (itself if it is one)."""
        for ident in self.lineage(cell_id):
            cell = self.cells.get(ident) or self.planned.get(ident)
            if cell is not None and cell.level is GridLevel.TOWNSHIP:
                return ident
        return None

    def needs(self, cell_id: str) -> list[GridCell]:
        """The planned cells that must be created for ``cell_id`` to exist, parents first."""
        return [self.planned[i] for i in reversed(self.lineage(cell_id)) if i in self.planned]

    def created(self, cell: GridCell) -> None:
        """A planned cell has been stored."""
        self.planned.pop(cell.id, None)
        self.cells[cell.id] = cell
