"""Accounts on real PostgreSQL: sign-in with a cookie and its CSRF token, throttling, API
tokens, deactivation, the command line, and the append-only audit log."""

from __future__ import annotations

import io
from typing import Any

import psycopg
import pytest

from envgrid_cli.main import main
from envgrid_cloud.app import create_app
from envgrid_cloud.auth.accounts import NewUser, add_user, connect, issue_token
from envgrid_cloud.settings import CloudSettings
from tests.integration.test_api_support import running, seed

PASSWORD = "correct horse battery"
LOGIN = "/api/v1/auth/login"
ME = "/api/v1/auth/me"


@pytest.fixture
def db(migrated_url: str) -> str:
    """The test township, a grid officer of the farm's village group with a password, an admin."""
    seed(migrated_url)
    with connect(migrated_url) as conn:
        add_user(conn, NewUser("wang", "Wang.Wei", "王伟", "grid_officer", "luxi-v1-g1"), PASSWORD)
        add_user(conn, NewUser("boss", "boss", "管理员", "admin", None), PASSWORD)
    return migrated_url


@pytest.fixture
def cli_env(db: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("ENVGRID_DATABASE_URL", db)
    return db


def client_for(db: str, **settings: Any) -> Any:
    return running(create_app(CloudSettings(database_url=db, **settings)))


def audit(db: str) -> list[dict[str, Any]]:
    with psycopg.connect(db) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return cur.execute("SELECT * FROM audit_log ORDER BY id").fetchall()


@pytest.mark.asyncio
async def test_a_browser_signs_in_with_a_cookie_and_writes_only_with_its_csrf_token(
    db: str,
) -> None:
    async with client_for(db) as client:
        anonymous = await client.get(ME)
        signed_in = await client.post(LOGIN, json={"login": "wang.wei", "password": PASSWORD})
        cookie = signed_in.headers.get_list("set-cookie")
        me = await client.get(ME)
        csrf = signed_in.json()["csrf_token"]
        no_csrf = await client.post("/api/v1/auth/logout")
        wrong_csrf = await client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": "x"})
        out = await client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf})
        after = await client.get(ME)
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == "Bearer"
    assert signed_in.status_code == 200, signed_in.text
    session = next(c for c in cookie if c.startswith("envgrid_session="))
    assert "HttpOnly" in session
    assert "SameSite=lax" in session
    assert "Secure" not in session  # ENVGRID_AUTH_COOKIE_SECURE is off by default
    assert any(c.startswith(f"envgrid_csrf={csrf}") and "HttpOnly" not in c for c in cookie)
    assert me.json() == {
        "id": "wang",
        "login": "Wang.Wei",
        "name": "王伟",
        "role": "grid_officer",
        "cell_id": "luxi-v1-g1",
        "locale": "zh-CN",
        "via": "session",
    }
    assert no_csrf.status_code == 403
    assert "X-CSRF-Token" in no_csrf.json()["detail"]
    assert wrong_csrf.status_code == 403
    assert out.status_code == 204
    assert after.status_code == 401


@pytest.mark.asyncio
async def test_the_session_cookie_is_secure_when_asked(db: str) -> None:
    async with client_for(db, auth_cookie_secure=True) as client:
        signed_in = await client.post(LOGIN, json={"login": "wang.wei", "password": PASSWORD})
    assert all("Secure" in c for c in signed_in.headers.get_list("set-cookie"))


@pytest.mark.asyncio
async def test_failed_logins_are_throttled_per_account_then_per_address(db: str) -> None:
    async with client_for(
        db, auth_login_max_failures=3, auth_address_max_failures=6, auth_login_window_s=600
    ) as client:
        wrong = [
            await client.post(LOGIN, json={"login": "wang.wei", "password": f"guess {i}"})
            for i in range(3)
        ]
        locked = await client.post(LOGIN, json={"login": "wang.wei", "password": PASSWORD})
        nobody = await client.post(LOGIN, json={"login": "nobody", "password": "x"})
        other = [
            await client.post(LOGIN, json={"login": "boss", "password": f"guess {i}"})
            for i in range(2)
        ]
        from_here = await client.post(LOGIN, json={"login": "boss", "password": PASSWORD})
    assert [r.status_code for r in wrong] == [401, 401, 401]
    assert {r.json()["detail"] for r in wrong} == {"wrong login name or password"}
    assert nobody.status_code == 401
    assert nobody.json()["detail"] == "wrong login name or password"  # nothing said of who exists
    assert locked.status_code == 429
    assert 590 <= int(locked.headers["retry-after"]) <= 600
    assert [r.status_code for r in other] == [401, 401]
    # Six failures from this address in all: even the admin's right password waits now.
    assert from_here.status_code == 429
    outcomes = [(e["action"], e["outcome"], e["detail"].get("login")) for e in audit(db)]
    assert ("POST /api/v1/auth/login", "429", "wang.wei") in outcomes
    assert outcomes.count(("POST /api/v1/auth/login", "401", "wang.wei")) == 3


@pytest.mark.asyncio
async def test_tokens_work_until_revoked_or_expired_and_never_for_a_deactivated_user(
    cli_env: str,
) -> None:
    db = cli_env
    with connect(db) as conn:
        token, row = issue_token(conn, "wang.wei", "script", None)
        stale, _ = issue_token(conn, "wang.wei", "old", 1)
        conn.execute("UPDATE api_tokens SET expires_at = now() - interval '1 s' WHERE name = 'old'")
        conn.commit()
    bearer = {"Authorization": f"Bearer {token}"}
    async with client_for(db) as client:
        ok = await client.get(ME, headers=bearer)
        expired = await client.get(ME, headers={"Authorization": f"Bearer {stale}"})
        garbage = await client.get(ME, headers={"Authorization": "Bearer egt_nonsense"})
        write_without_csrf = await client.post(
            "/api/v1/cases", json={"site_id": "farm1", "title": "x"}, headers=bearer
        )
        assert main(["tokens", "revoke", str(row["id"])]) == 0
        revoked = await client.get(ME, headers=bearer)
        session = await client.post(LOGIN, json={"login": "wang.wei", "password": PASSWORD})
        fresh, _ = issue_token(connect(db), "wang.wei", "fresh", None)
        assert main(["users", "deactivate", "wang.wei"]) == 0
        cookie_after = await client.get(ME)
        token_after = await client.get(ME, headers={"Authorization": f"Bearer {fresh}"})
        login_after = await client.post(LOGIN, json={"login": "wang.wei", "password": PASSWORD})
    assert token.startswith("egt_")
    assert ok.status_code == 200
    assert ok.json()["via"] == "token"
    assert expired.status_code == 401
    assert garbage.status_code == 401
    assert write_without_csrf.status_code == 201, "a token needs no CSRF token"
    assert revoked.status_code == 401
    assert session.status_code == 200
    assert cookie_after.status_code == 401, "deactivation ends the sessions"
    assert token_after.status_code == 401
    assert login_after.status_code == 401
    with psycopg.connect(db) as conn:
        kept = conn.execute("SELECT token_hash FROM api_tokens").fetchall()
    assert all(token.encode() not in bytes(h) for (h,) in kept), "tokens are kept hashed"


def test_the_command_line_adds_lists_and_resets_users_and_issues_tokens(
    cli_env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("a fine password\n"))
    assert main(["users", "add", "li.na", "--name", "李娜", "--role", "reviewer",
                 "--cell", "luxi", "--password-stdin"]) == 0  # fmt: skip
    assert main(["users", "add", "li.na", "--name", "x", "--role", "reviewer", "--cell", "luxi",
                 "--no-password"]) == 1  # fmt: skip
    assert main(["users", "add", "nocell", "--name", "x", "--role", "reviewer",
                 "--no-password"]) == 1  # fmt: skip
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["users", "passwd", "li.na", "--password-stdin"]) == 1
    monkeypatch.setattr("sys.stdin", io.StringIO("another fine one\n"))
    assert main(["users", "passwd", "li.na", "--password-stdin"]) == 0
    assert main(["users", "list"]) == 0
    assert main(["tokens", "issue", "--user", "li.na", "--name", "exchange"]) == 0
    assert main(["tokens", "issue", "--user", "li.na", "--name", "exchange"]) == 1
    assert main(["tokens", "list", "--user", "li.na"]) == 0
    out, err = capsys.readouterr()
    assert "added li.na (reviewer of luxi)" in out
    assert "already exists" in err or "exists" in err
    assert "needs --cell" in err
    assert "at least 8 characters" in err
    assert "password set for li.na" in out
    token = next(line for line in out.splitlines() if line.startswith("egt_"))
    assert token not in out.split(token, 1)[1], "a token is shown once"
    assert "exchange" in out.split("prefix", 1)[1]
    actions = [(e["actor"].split(":")[0], e["via"], e["action"]) for e in audit(cli_env)]
    assert ("cli", "cli", "user added") in actions
    assert ("cli", "cli", "password set") in actions
    assert ("cli", "cli", "token issued") in actions


@pytest.mark.asyncio
async def test_every_write_is_audited_and_the_log_cannot_be_changed(db: str) -> None:
    with connect(db) as conn:
        officer, _ = issue_token(conn, "wang.wei", "w", None)
        admin, _ = issue_token(conn, "boss", "b", None)
    async with client_for(db) as client:
        await client.post(
            "/api/v1/cases",
            json={"site_id": "farm1", "title": "粪污直排"},
            headers={"Authorization": f"Bearer {officer}", "User-Agent": "t"},
        )
        refused = await client.delete(
            "/api/v1/nodes/farm1-s2", headers={"Authorization": f"Bearer {officer}"}
        )
        by_officer = await client.get(
            "/api/v1/audit", headers={"Authorization": f"Bearer {officer}"}
        )
        log = await client.get(
            "/api/v1/audit", params={"actor": "wang"}, headers={"Authorization": f"Bearer {admin}"}
        )
    assert refused.status_code == 403
    assert by_officer.status_code == 403
    entries = log.json()["items"]
    writes = [(e["action"], e["outcome"]) for e in entries if e["action"] != "token used"]
    assert writes == [
        ("DELETE /api/v1/nodes/{node_id}", "403"),
        ("POST /api/v1/cases", "201"),
    ]
    assert all(e["via"] == "token" and e["token_id"] for e in entries)
    assert entries[0]["target"] == "node_id=farm1-s2"
    assert entries[0]["address"] == "127.0.0.1"
    with psycopg.connect(db) as conn:
        for statement in (
            "UPDATE audit_log SET actor = 'someone else'",
            "DELETE FROM audit_log",
            "TRUNCATE audit_log",
        ):
            with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
                conn.execute(statement)
            conn.rollback()


@pytest.mark.asyncio
async def test_a_user_changes_their_password_and_other_sessions_end(db: str) -> None:
    async with client_for(db) as first, client_for(db) as second:
        one = await first.post(LOGIN, json={"login": "wang.wei", "password": PASSWORD})
        await second.post(LOGIN, json={"login": "wang.wei", "password": PASSWORD})
        csrf = {"X-CSRF-Token": one.json()["csrf_token"]}
        wrong = await first.post(
            "/api/v1/auth/password",
            json={"current_password": "nope", "new_password": "a new password"},
            headers=csrf,
        )
        weak = await first.post(
            "/api/v1/auth/password",
            json={"current_password": PASSWORD, "new_password": "short"},
            headers=csrf,
        )
        changed = await first.post(
            "/api/v1/auth/password",
            json={"current_password": PASSWORD, "new_password": "a new password"},
            headers=csrf,
        )
        still = await first.get(ME)
        ended = await second.get(ME)
        old = await second.post(LOGIN, json={"login": "wang.wei", "password": PASSWORD})
        new = await second.post(LOGIN, json={"login": "wang.wei", "password": "a new password"})
    assert wrong.status_code == 422
    assert weak.status_code == 422
    assert "at least 8" in weak.text
    assert changed.status_code == 204
    assert still.status_code == 200
    assert ended.status_code == 401
    assert old.status_code == 401
    assert new.status_code == 200
