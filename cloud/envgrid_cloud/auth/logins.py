"""What a login name may be."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

Login = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9._@-]+$",
        description="Login name: letters, digits and . _ @ -",
        examples=["wang.wei"],
    ),
]
