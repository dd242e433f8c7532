"""Random secrets for sessions, CSRF and API tokens, and how they are kept (SHA-256 only)."""

from __future__ import annotations

import hashlib
import secrets

# An API token reads egt_<prefix>_<secret>: the prefix names it in lists, the secret is never kept.
TOKEN_MARK = "egt"
PREFIX_CHARS = 8


def digest(secret: str) -> bytes:
    """What is stored of a secret: its SHA-256 (the secrets are random, so no salt is needed)."""
    return hashlib.sha256(secret.encode()).digest()


def new_session_secret() -> str:
    """A browser session's cookie value."""
    return secrets.token_urlsafe(32)


def new_csrf_token() -> str:
    """The token a browser sends back in X-CSRF-Token with each write."""
    return secrets.token_urlsafe(24)


def new_api_token() -> tuple[str, str]:
    """A new API token and its display prefix."""
    prefix = secrets.token_hex(PREFIX_CHARS // 2)
    return f"{TOKEN_MARK}_{prefix}_{secrets.token_urlsafe(32)}", prefix
