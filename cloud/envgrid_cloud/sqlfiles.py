"""The one loader of the cloud's SQL: ``<package>/sql/<name>.sql``, one statement per file."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from importlib import resources


def loader(package: str) -> Callable[[str], bytes]:
    """``load(name)``: the statement in ``{name}.sql`` of ``package`` (a sql folder), read once."""

    @cache
    def load(name: str) -> bytes:
        # Bytes, so psycopg runs it without asking for a literal-string type.
        return resources.files(package).joinpath(f"{name}.sql").read_bytes()

    return load
