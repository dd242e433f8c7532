"""``/api/v1/officers``: the people on duty in each grid cell."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["officers"])
