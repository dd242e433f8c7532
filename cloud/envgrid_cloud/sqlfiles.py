"""SQL kept in ``.sql`` files beside the code that runs it, one statement per file."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from importlib import resources


def loader(package: str) -> Callable[[str], bytes]:
    """``load(name)``: the statement in ``{name}.sql`` of ``package``, read once.

    Bytes, so psycopg runs it without asking for a literal-string type.
    """

    @cache
    def load(name: str) -> bytes:
        return resources.files(package).joinpath(f"{name}.sql").read_bytes()

    return load
