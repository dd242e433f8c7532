"""Where envgrid keeps state on disk (kept free of pydantic: small nodes import it too)."""

from __future__ import annotations

import os
from pathlib import Path


def default_data_dir() -> Path:
    """Where envgrid keeps state when nobody says otherwise (XDG data home)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "envgrid"
