"""The demo's accounts: an administrator and the township's officers, with passwords it prints.

Demo only: a deployment starts with no account and ``envgrid users add --role admin``. The
passwords are made once, kept in the data directory (``accounts.json``, readable by its owner
only) and set again on each start if the database lost them.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from envgrid_cli.sql import load
from envgrid_cloud.auth.accounts import NewUser, add_user, connect, set_password
from envgrid_cloud.auth.passwords import verify_password
from envgrid_common.registry import Officer

ADMIN = NewUser(id="admin", login="admin", name="演示管理员", role="admin", cell_id=None)
FILE = "accounts.json"


@dataclass(frozen=True, slots=True)
class Account:
    """A login the demo prints."""

    login: str
    name: str
    role: str
    cell_id: str | None
    password: str


def ensure_accounts(
    database_url: str, data_dir: Path, officers: tuple[Officer, ...]
) -> list[Account]:
    """The admin and every officer, each with a password that works; saved for the next start."""
    path = data_dir / FILE
    saved: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    people = [ADMIN, *(NewUser(o.id, o.id, o.name, o.role, o.cell_id) for o in officers)]
    accounts = []
    with connect(database_url) as conn:
        for person in people:
            password = saved.get(person.login) or secrets.token_urlsafe(9)
            row = conn.execute(load("demo_password_hash"), {"id": person.id}).fetchone()
            if row is None:
                add_user(conn, person, password)
            elif not verify_password(row["password_hash"], password):
                set_password(conn, person.login, password)
            saved[person.login] = password
            accounts.append(
                Account(person.login, person.name, person.role, person.cell_id, password)
            )
    path.write_text(json.dumps(saved, ensure_ascii=False, indent=1))
    os.chmod(path, 0o600)
    return accounts


def describe(accounts: list[Account]) -> str:
    """The console lines that list them."""
    width = max(len(a.login) for a in accounts)
    lines = ["  sign in (demo accounts; passwords kept in the data directory):"]
    for a in accounts:
        where = f" {a.cell_id}" if a.cell_id else ""
        lines.append(f"    {a.login.ljust(width)}  {a.password}  {a.role}{where} {a.name}")
    return "\n".join(lines)
