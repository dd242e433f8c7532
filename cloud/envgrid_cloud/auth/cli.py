"""``envgrid users add|list|passwd|deactivate`` and ``envgrid tokens issue|list|revoke``."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable, Iterable

import psycopg

from envgrid_cloud.settings import CloudSettings

ROLES = ("grid_officer", "reviewer", "admin")
USERS_HELP = """\
The people who sign in to the API and the desk, in ENVGRID_DATABASE_URL. A deployment starts
with none: add an administrator first, e.g.

  envgrid users add admin --name 管理员 --role admin

A password is asked twice (or read from one line of standard input with --password-stdin).
Exit status: 0 done, 1 refused (the message says why), 2 the database cannot be used.
"""
TOKENS_HELP = """\
API tokens for machines and scripts: `Authorization: Bearer <token>`. A token acts as its
user (their role and area). It is shown once when issued and kept only as a hash.
Exit status: 0 done, 1 refused, 2 the database cannot be used.
"""


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``users`` and ``tokens``."""
    users = commands.add_parser(
        "users",
        help="accounts: add, list, set a password, deactivate",
        description=USERS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="add a user", description="Add a user who signs in.")
    add.add_argument("login", help="login name (letters, digits, . _ @ -)")
    add.add_argument("--name", required=True, help="display name, e.g. 王伟")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument(
        "--cell", help="their grid cell id: they see it and below (required unless --role admin)"
    )
    add.add_argument("--id", help="user id (default: the login name)")
    add.add_argument("--phone")
    add.add_argument("--email")
    add.add_argument("--locale", choices=("zh-CN", "en"), default="zh-CN")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add.add_argument("--no-password", action="store_true", help="add without a password")
    add.set_defaults(handler=_users_add)
    actions.add_parser("list", help="list users").set_defaults(handler=_users_list)
    passwd = actions.add_parser("passwd", help="set a user's password (their sessions end)")
    passwd.add_argument("login")
    passwd.add_argument("--password-stdin", action="store_true", help="read it from stdin")
    passwd.set_defaults(handler=_users_passwd)
    off = actions.add_parser("deactivate", help="no more sign-in or tokens for a user")
    off.add_argument("login")
    off.set_defaults(handler=_users_deactivate)

    tokens = commands.add_parser(
        "tokens",
        help="API tokens: issue, list, revoke",
        description=TOKENS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    token_actions = tokens.add_subparsers(dest="tokens_command", required=True, metavar="ACTION")
    issue = token_actions.add_parser("issue", help="issue a token (printed once)")
    issue.add_argument("--user", required=True, help="login name of the user it acts as")
    issue.add_argument("--name", required=True, help="what it is for, e.g. county-exchange")
    issue.add_argument("--expires-days", type=int, help="valid this many days (default: no end)")
    issue.set_defaults(handler=_tokens_issue)
    listing = token_actions.add_parser("list", help="list tokens (never the secret)")
    listing.add_argument("--user", help="only this user's")
    listing.set_defaults(handler=_tokens_list)
    revoke = token_actions.add_parser("revoke", help="revoke a token by its id")
    revoke.add_argument("id", type=int)
    revoke.set_defaults(handler=_tokens_revoke)


def _run(work: Callable[[], int]) -> int:
    from envgrid_cloud.api.database import describe
    from envgrid_cloud.auth.accounts import AccountError
    from envgrid_cloud.auth.passwords import WeakPassword

    try:
        return work()
    except (AccountError, WeakPassword) as refused:
        print(f"envgrid: {refused}", file=sys.stderr)
        return 1
    except psycopg.OperationalError as error:
        url = CloudSettings().database_url
        print(f"envgrid: cannot reach the database {describe(url)}: {error}", file=sys.stderr)
        return 2
    except psycopg.errors.UndefinedTable:
        print(
            "envgrid: the database has no envgrid schema; run `envgrid db migrate`", file=sys.stderr
        )
        return 2


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        from envgrid_cloud.auth.accounts import AccountError

        raise AccountError("the two passwords differ")
    return first


def _table(rows: Iterable[dict[str, object]], columns: list[str]) -> None:
    rows = list(rows)
    widths = [
        max([len(c), *(len(str(r[c] if r[c] is not None else "")) for r in rows)]) for c in columns
    ]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    for row in rows:
        cells = [str(row[c] if row[c] is not None else "") for c in columns]
        print("  ".join(v.ljust(w) for v, w in zip(cells, widths, strict=True)))


def _users_add(args: argparse.Namespace) -> int:
    from envgrid_cloud.auth.accounts import AccountError, NewUser, add_user, connect

    def work() -> int:
        if args.cell is None and args.role != "admin":
            raise AccountError("a grid officer or reviewer needs --cell")
        password = None if args.no_password else _password(args.password_stdin)
        user = NewUser(
            id=args.id or args.login,
            login=args.login,
            name=args.name,
            role=args.role,
            cell_id=args.cell,
            phone=args.phone,
            email=args.email,
            locale=args.locale,
        )
        with connect(CloudSettings().database_url) as conn:
            row = add_user(conn, user, password)
        where = f" of {row['cell_id']}" if row["cell_id"] else ""
        print(f"added {row['login']} ({row['role']}{where})")
        return 0

    return _run(work)


def _users_list(_args: argparse.Namespace) -> int:
    from envgrid_cloud.auth.accounts import connect, list_users

    def work() -> int:
        with connect(CloudSettings().database_url) as conn:
            rows = list_users(conn)
        columns = ["id", "login", "name", "role", "cell_id", "active", "has_password"]
        _table(rows, columns)
        return 0

    return _run(work)


def _users_passwd(args: argparse.Namespace) -> int:
    from envgrid_cloud.auth.accounts import connect, set_password

    def work() -> int:
        password = _password(args.password_stdin)
        with connect(CloudSettings().database_url) as conn:
            set_password(conn, args.login, password)
        print(f"password set for {args.login}; their sessions have ended")
        return 0

    return _run(work)


def _users_deactivate(args: argparse.Namespace) -> int:
    from envgrid_cloud.auth.accounts import connect, deactivate

    def work() -> int:
        with connect(CloudSettings().database_url) as conn:
            deactivate(conn, args.login)
        print(f"{args.login} deactivated: no sign-in, no token works")
        return 0

    return _run(work)


def _tokens_issue(args: argparse.Namespace) -> int:
    from envgrid_cloud.auth.accounts import connect, issue_token

    def work() -> int:
        with connect(CloudSettings().database_url) as conn:
            token, row = issue_token(conn, args.user, args.name, args.expires_days)
        ends = f", expires {row['expires_at']:%Y-%m-%d}" if row["expires_at"] else ""
        print(f"token {row['id']} ({row['name']}) for {args.user}{ends}; it is shown only now:")
        print(token)
        return 0

    return _run(work)


def _tokens_list(args: argparse.Namespace) -> int:
    from envgrid_cloud.auth.accounts import connect, list_tokens

    def work() -> int:
        with connect(CloudSettings().database_url) as conn:
            rows = list_tokens(conn, args.user)
        columns = [
            "id",
            "login",
            "name",
            "prefix",
            "created_at",
            "expires_at",
            "revoked_at",
            "last_used_at",
        ]
        _table(rows, columns)
        return 0

    return _run(work)


def _tokens_revoke(args: argparse.Namespace) -> int:
    from envgrid_cloud.auth.accounts import connect, revoke_token

    def work() -> int:
        with connect(CloudSettings().database_url) as conn:
            name = revoke_token(conn, args.id)
        print(f"token {args.id} ({name}) revoked")
        return 0

    return _run(work)
