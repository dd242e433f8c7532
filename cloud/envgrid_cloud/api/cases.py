"""``/api/v1/cases``: cases through the closed loop, and their live feed."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["cases"])
