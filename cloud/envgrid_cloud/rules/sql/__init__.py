"""The rules' SQL, one statement per ``.sql`` file."""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def load(name: str) -> bytes:
    """The statement in ``{name}.sql``."""
    return resources.files(__name__).joinpath(f"{name}.sql").read_bytes()
