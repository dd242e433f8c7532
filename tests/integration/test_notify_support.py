"""Helpers for the notification tests (no tests here): a controllable clock, a robot receiver
(WeCom and DingTalk, checking shapes and signatures, failing on demand), an SMTP server."""

from __future__ import annotations

import base64
import hashlib
import hmac
import socket
import ssl
import subprocess
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes
from email.message import EmailMessage, Message
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import psycopg
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from envgrid_cloud.notify.deliver import Deliverer, open_notify_pool
from envgrid_cloud.settings import CloudSettings
from envgrid_common.clock import ManualClock as Clock

DESK = "http://desk.test"
WECOM_LIMIT = 4096


@dataclass
class Received:
    """One message a robot accepted."""

    kind: str  # wecom or dingtalk
    name: str  # the robot (key or access_token)
    body: dict[str, Any]
    at: datetime  # on the test's clock

    @property
    def text(self) -> str:
        """The markdown the robot shows."""
        markdown = self.body["markdown"]
        return str(markdown["content"] if self.kind == "wecom" else markdown["text"])


@dataclass
class Robots:
    """What the receiver holds: secrets of signed robots, failures to give, what came."""

    clock: Callable[[], datetime]
    secrets: dict[str, str] = field(default_factory=dict)
    failures: dict[str, list[tuple[int, bytes]]] = field(default_factory=dict)
    messages: list[Received] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # broken shapes or signatures
    lock: threading.Lock = field(default_factory=threading.Lock)
    port: int = 0

    def url(self, kind: str, name: str) -> str:
        """The webhook URL of robot ``name``, shaped like the real one."""
        if kind == "wecom":
            return f"http://127.0.0.1:{self.port}/cgi-bin/webhook/send?key={name}"
        return f"http://127.0.0.1:{self.port}/robot/send?access_token={name}"

    def fail(self, name: str, *answers: tuple[int, Any]) -> None:
        """Answer robot ``name``'s next requests with these (status, JSON body) instead."""
        self.failures.setdefault(name, []).extend(
            (status, orjson.dumps(body)) for status, body in answers
        )

    def of(self, name: str) -> list[Received]:
        """The messages robot ``name`` accepted."""
        with self.lock:
            return [m for m in self.messages if m.name == name]

    def answer(self, path: str, query: str, headers: Any, raw: bytes) -> tuple[int, bytes]:
        """The robot's answer to one request (called in the server's threads)."""
        params = {k: v[0] for k, v in parse_qs(query).items()}
        if path == "/cgi-bin/webhook/send":
            kind, name = "wecom", params.get("key", "")
        elif path == "/robot/send":
            kind, name = "dingtalk", params.get("access_token", "")
        else:
            return 404, b"{}"
        with self.lock:
            queued = self.failures.get(name)
            if queued:
                return queued.pop(0)
        problem, body = self._check(kind, name, params, headers, raw)
        with self.lock:
            if problem:
                self.refused.append(f"{kind} {name}: {problem}")
                return 200, orjson.dumps({"errcode": 300001, "errmsg": problem})
            self.messages.append(Received(kind, name, body, self.clock()))
        return 200, orjson.dumps({"errcode": 0, "errmsg": "ok"})

    def _check(
        self, kind: str, name: str, params: dict[str, str], headers: Any, raw: bytes
    ) -> tuple[str | None, dict[str, Any]]:
        if not str(headers.get("Content-Type", "")).startswith("application/json"):
            return "not JSON", {}
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return "unparsable JSON", {}
        if kind == "wecom":
            return wecom_problem(body), body
        secret = self.secrets.get(name)
        if secret is not None:
            timestamp, sign = params.get("timestamp", ""), params.get("sign", "")
            if not timestamp.isdigit() or sign != dingtalk_sign(secret, timestamp):
                return "sign not match", body
        return dingtalk_problem(body), body


def dingtalk_sign(secret: str, timestamp: str) -> str:
    """DingTalk's signature, computed independently of the code under test."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}\n{secret}".encode(), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def wecom_problem(body: Any) -> str | None:
    """What is wrong with a WeCom group robot's markdown message, if anything."""
    if not isinstance(body, dict) or set(body) != {"msgtype", "markdown"}:
        return f"keys {sorted(body) if isinstance(body, dict) else body!r}"
    if body["msgtype"] != "markdown" or not isinstance(body["markdown"], dict):
        return "not markdown"
    if set(body["markdown"]) != {"content"} or not isinstance(body["markdown"]["content"], str):
        return "markdown must be {content}"
    size = len(body["markdown"]["content"].encode())
    if not 0 < size <= WECOM_LIMIT:
        return f"content of {size} bytes"
    return None


def dingtalk_problem(body: Any) -> str | None:
    """What is wrong with a DingTalk custom robot's markdown message, if anything."""
    if not isinstance(body, dict) or not {"msgtype", "markdown"} <= set(body) <= {
        "msgtype",
        "markdown",
        "at",
    }:
        return "keys"
    markdown = body["markdown"]
    if body["msgtype"] != "markdown" or not isinstance(markdown, dict):
        return "not markdown"
    if set(markdown) != {"title", "text"} or not all(isinstance(v, str) for v in markdown.values()):
        return "markdown must be {title, text}"
    at = body.get("at", {})
    mobiles = at.get("atMobiles", []) if isinstance(at, dict) else None
    if not isinstance(mobiles, list) or not all(isinstance(m, str) for m in mobiles):
        return "at.atMobiles must be a list of phones"
    missing = [m for m in mobiles if f"@{m}" not in markdown["text"]]
    if missing:
        return f"@{missing[0]} is not in the text"
    return None


def _handler(robots: Robots) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            parts = urlsplit(self.path)
            status, body = robots.answer(parts.path, parts.query, self.headers, raw)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def robot_receiver(clock: Callable[[], datetime]) -> Iterator[Robots]:
    """WeCom and DingTalk robots on a local port, in a thread."""
    robots = Robots(clock)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(robots))
    server.daemon_threads = True
    robots.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, name="robots", daemon=True)
    thread.start()
    try:
        yield robots
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def free_port() -> int:
    """A port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Mailbox:
    """What the SMTP server accepted, and how many messages it is to refuse first."""

    messages: list[Message] = field(default_factory=list)
    refuse: int = 0
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(  # noqa: N802 - the name aiosmtpd calls
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        if self.refuse:
            self.refuse -= 1
            return "451 4.3.0 Try again later"
        assert isinstance(envelope.content, bytes)
        self.messages.append(message_from_bytes(envelope.content, policy=default_policy))
        return "250 2.0.0 Queued"

    def body(self, index: int) -> str:
        """The text of message ``index``."""
        message = self.messages[index]
        assert isinstance(message, EmailMessage)
        return str(message.get_content())


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost and its key (openssl)."""
    cert, key = directory / "smtp.crt", directory / "smtp.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@contextmanager
def smtp_server(
    cert: tuple[Path, Path] | None = None, login: tuple[str, str] | None = None
) -> Iterator[tuple[Mailbox, int]]:
    """An aiosmtpd server on a local port: plain, or requiring STARTTLS (and a login)."""
    box = Mailbox()
    kwargs: dict[str, Any] = {}
    if cert is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(str(cert[0]), str(cert[1]))
        kwargs |= {"tls_context": context, "require_starttls": True}
    if login is not None:

        def authenticate(
            server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
        ) -> AuthResult:
            ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
                login[0].encode(),
                login[1].encode(),
            )
            if ok:
                box.logins.append(login[0])
            return AuthResult(success=ok)

        kwargs |= {"authenticator": authenticate, "auth_required": True}
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


def add_channel(
    db: str,
    name: str,
    kind: str,
    target: str,
    *,
    secret: str | None = None,
    cell_id: str | None = None,
    user_id: str | None = None,
    min_severity: str = "low",
    rate: int = 20,
) -> int:
    """A channel, straight into the table; its id."""
    with psycopg.connect(db) as conn:
        row = conn.execute(
            "INSERT INTO notify_channels (name, kind, target, secret, cell_id, user_id,"
            " min_severity, rate_per_minute) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
            " RETURNING id",
            (name, kind, target, secret, cell_id, user_id, min_severity, rate),
        ).fetchone()
    assert row is not None
    return int(row[0])


def outbox(db: str, case_id: int | None = None) -> list[dict[str, Any]]:
    """Outbox rows (of one case), in order."""
    with psycopg.connect(db, row_factory=psycopg.rows.dict_row) as conn:
        return conn.execute(
            "SELECT * FROM notify_outbox WHERE %(c)s::bigint IS NULL OR case_id = %(c)s"
            " ORDER BY id",
            {"c": case_id},
        ).fetchall()


@asynccontextmanager
async def delivering(db: str, clock: Clock, **settings: Any) -> AsyncIterator[Deliverer]:
    """A deliverer on ``db`` driven by ``clock`` (links to DESK)."""
    config = CloudSettings(database_url=db, desk_url=DESK, notify_timeout_s=5.0, **settings)
    pool = await open_notify_pool(db)
    try:
        async with httpx.AsyncClient() as http:
            yield Deliverer(config, pool, http, clock)
    finally:
        await pool.close()
