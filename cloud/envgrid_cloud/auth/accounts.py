"""Accounts and tokens as the command line manages them, on a direct database connection.

Every change is written to the audit log as done by ``cli:<os user>``.
"""

from __future__ import annotations

import getpass
from dataclasses import asdict, dataclass
from typing import Any

import psycopg
from psycopg.rows import DictRow, dict_row
from psycopg.types.json import Jsonb

from envgrid_cloud.api.sql import load as api_sql
from envgrid_cloud.auth.passwords import hash_password
from envgrid_cloud.auth.sql import load
from envgrid_cloud.auth.tokens import digest, new_api_token

Conn = psycopg.Connection[DictRow]


class AccountError(RuntimeError):
    """What the command could not do, in words for its user."""


@dataclass(frozen=True, slots=True)
class NewUser:
    """A user to add."""

    id: str
    login: str
    name: str
    role: str
    cell_id: str | None
    phone: str | None = None
    email: str | None = None
    locale: str = "zh-CN"


def connect(database_url: str) -> Conn:
    """A connection for one command (one transaction per change)."""
    return psycopg.connect(database_url, row_factory=dict_row)


def _audit(conn: Conn, action: str, target: str, detail: dict[str, Any] | None = None) -> None:
    conn.execute(
        api_sql("audit_insert"),
        {
            "actor": f"cli:{_os_user()}",
            "via": "cli",
            "token_id": None,
            "address": None,
            "action": action,
            "target": target,
            "outcome": "ok",
            "detail": Jsonb(detail or {}),
        },
    )


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def add_user(conn: Conn, user: NewUser, password: str | None) -> DictRow:
    """Add ``user`` (with a password, if given); AccountError if the id or login is taken."""
    with conn.transaction():
        cell = user.cell_id
        if (
            cell is not None
            and conn.execute(api_sql("grid_cell"), {"cell_id": cell}).fetchone() is None
        ):
            raise AccountError(f"no grid cell with id {user.cell_id!r}")
        params = {
            **asdict(user),
            "active": True,
            "password_hash": hash_password(password) if password is not None else None,
        }
        row = conn.execute(api_sql("user_insert"), params).fetchone()
        if row is None:
            raise AccountError(f"a user with id {user.id!r} or login {user.login!r} exists")
        _audit(conn, "user added", user.id, {"login": user.login, "role": user.role})
    return row


def list_users(conn: Conn) -> list[DictRow]:
    """Every user, by id."""
    params = {"cell_id": None, "role": None, "active": None, "area": None}
    return conn.execute(api_sql("users"), params).fetchall()


def set_password(conn: Conn, login: str, password: str) -> None:
    """Set ``login``'s password; their sessions end. AccountError if there is no such user."""
    password_hash = hash_password(password)
    with conn.transaction():
        user = conn.execute(api_sql("auth_login_user"), {"login": login}).fetchone()
        if user is None:
            raise AccountError(f"no user with login {login!r}")
        conn.execute(
            api_sql("auth_password_set"),
            {"user_id": user["id"], "password_hash": password_hash, "keep_session": None},
        )
        conn.execute(api_sql("auth_failures_clear"), {"key": f"login:{login.lower()}"})
        _audit(conn, "password set", user["id"])


def deactivate(conn: Conn, login: str) -> str:
    """Deactivate ``login``: no sign-in, no token; their sessions end. Returns the user id."""
    with conn.transaction():
        row = conn.execute(load("user_deactivate"), {"login": login}).fetchone()
        if row is None:
            raise AccountError(f"no user with login {login!r}")
        _audit(conn, "user deactivated", row["id"])
    return str(row["id"])


def issue_token(conn: Conn, login: str, name: str, expires_days: int | None) -> tuple[str, DictRow]:
    """A new token for ``login``: the token (shown once) and its record."""
    token, prefix = new_api_token()
    with conn.transaction():
        if conn.execute(api_sql("auth_login_user"), {"login": login}).fetchone() is None:
            raise AccountError(f"no user with login {login!r}")
        row = conn.execute(
            load("token_insert"),
            {
                "login": login,
                "name": name,
                "token_hash": digest(token),
                "prefix": prefix,
                "expires_days": expires_days,
            },
        ).fetchone()
        if row is None:
            raise AccountError(f"{login!r} already has a live token named {name!r}")
        _audit(conn, "token issued", row["user_id"], {"token_id": row["id"], "name": name})
    return token, row


def list_tokens(conn: Conn, login: str | None = None) -> list[DictRow]:
    """Tokens, newest first, of one user or all."""
    return conn.execute(load("tokens"), {"login": login}).fetchall()


def revoke_token(conn: Conn, token_id: int) -> str:
    """Revoke a token by id; returns its name. AccountError if none is live with that id."""
    with conn.transaction():
        row = conn.execute(load("token_revoke"), {"id": token_id}).fetchone()
        if row is None:
            raise AccountError(f"no live token with id {token_id}")
        _audit(conn, "token revoked", str(token_id), {"name": row["name"]})
    return str(row["name"])
