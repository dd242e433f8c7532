"""E-mail over SMTP (aiosmtplib): STARTTLS, TLS from the start, or plain, by setting.

The message is the same markdown as the robots', as UTF-8 plain text (markdown reads well as
it is), with the title as subject. The server's reply is kept: the code and text of its answer
to the message, or of the refusal.
"""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import aiosmtplib
import httpx

from envgrid_cloud.notify.model import Answer, Channel
from envgrid_cloud.notify.text import Composed, Style
from envgrid_cloud.settings import CloudSettings

STYLE = Style(200_000)
SUBJECT_PREFIX = "[envgrid] "
PORTS = {"starttls": 587, "tls": 465, "none": 25}


def message(
    settings: CloudSettings, channel: Channel, composed: Composed, now: datetime
) -> EmailMessage:
    """The e-mail to the channel's address."""
    mail = EmailMessage()
    mail["Subject"] = SUBJECT_PREFIX + composed.title
    mail["From"] = settings.smtp_from
    mail["To"] = channel.target
    mail["Date"] = format_datetime(now)
    mail["Message-ID"] = make_msgid("envgrid")
    mail["Auto-Submitted"] = "auto-generated"
    mail.set_content(composed.text + "\n\n-- \nenvgrid " + settings.desk_url + "\n")
    return mail


def readable(mail: EmailMessage) -> str:
    """The e-mail as kept with the attempt: its headers and its text, decoded."""
    head = "".join(f"{name}: {value}\n" for name, value in mail.items())
    body = mail.get_content()
    return f"{head}\n{body}"


async def send(
    http: httpx.AsyncClient,
    settings: CloudSettings,
    channel: Channel,
    composed: Composed,
    now: datetime,
) -> Answer:
    """Send the message through the configured SMTP server."""
    mail = message(settings, channel, composed, now)
    request = readable(mail)
    if not settings.smtp_host:
        return Answer(request, False, error="no SMTP server: ENVGRID_SMTP_HOST is not set")
    mode = settings.smtp_mode
    try:
        _, reply = await aiosmtplib.send(
            mail,
            hostname=settings.smtp_host,
            port=settings.smtp_port or PORTS[mode],
            username=settings.smtp_user or None,
            password=settings.smtp_password.get_secret_value() or None,
            use_tls=mode == "tls",
            start_tls=mode == "starttls",
            cert_bundle=settings.smtp_ca_file or None,
            timeout=settings.notify_timeout_s,
        )
    except aiosmtplib.SMTPResponseException as exc:
        return Answer(request, False, exc.code, exc.message, f"SMTP {exc.code}: {exc.message}")
    except (aiosmtplib.SMTPException, OSError) as exc:
        return Answer(request, False, error=f"{type(exc).__name__}: {exc}")
    return Answer(request, True, 250, reply)
