"""Cloud settings (``ENVGRID_`` variables or the YAML file in ``ENVGRID_CONFIG``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from envgrid_common.settings import EnvgridSettings
from envgrid_common.validation import MAX_SNAPSHOT_BYTES


class CloudSettings(EnvgridSettings):
    """What the cloud's API and ingest workers need."""

    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/envgrid",
        description="PostgreSQL (or TimescaleDB) connection URL",
    )
    api_host: str = Field(default="127.0.0.1", description="Address the HTTP API listens on")
    api_port: int = Field(default=8080, description="Port of the HTTP API")
    ingest_workers: int = Field(default=1, ge=1, description="Ingest processes to run")
    ingest_client_id: str = Field(
        default="envgrid-ingest", description="MQTT client id prefix (fixed: sessions persist)"
    )
    ingest_share_group: str = Field(
        default="envgrid-ingest",
        description="Shared-subscription group; empty for brokers without $share (one worker)",
    )
    ingest_batch_max: int = Field(default=5000, ge=1, description="Rows per database commit")
    ingest_batch_interval_ms: int = Field(
        default=50, ge=1, description="Longest wait before a partial batch is committed"
    )
    ingest_receive_maximum: int = Field(
        default=20000,
        ge=1,
        le=65535,
        description="Unacknowledged messages a worker holds; it stops reading at this many",
    )
    ingest_keepalive_s: int = Field(
        default=30, ge=5, le=3600, description="MQTT keepalive of the ingest's connections"
    )
    ingest_stall_s: float = Field(
        default=60.0,
        gt=0,
        le=86400,
        description=(
            "Messages held and nothing committed for this long: the worker reports itself stalled"
        ),
    )
    ingest_stuck_exit_s: float = Field(
        default=300.0,
        gt=0,
        le=86400,
        description="A database write running this long: the worker exits and is started afresh",
    )
    snapshot_max_bytes: int = Field(
        default=2 * 1024 * 1024,
        ge=1024,
        le=MAX_SNAPSHOT_BYTES,
        description="Largest camera snapshot stored; a larger one is dead-lettered",
    )
    snapshot_retention_days: int = Field(
        default=90,
        ge=1,
        le=36500,
        description="Snapshots older than this are deleted, except those of open cases and of "
        "cases dismissed as false alarms",
    )
    snapshot_false_alarm_retention_days: int = Field(
        default=0,
        ge=0,
        le=36500,
        description="Snapshots of cases dismissed as false alarms (the detector's re-evaluation "
        "set) are deleted after this many days; 0: kept",
    )
    clock: Literal["wall", "feed"] = Field(
        default="wall",
        description="Where decision times come from: the wall clock, or the ticks of a replay "
        "on the feed's clock (envgrid replay --feed-clock; see docs/feeds.md)",
    )
    rules_enabled: bool = Field(
        default=True, description="Judge what the ingest stores by the sites' rules (cases)"
    )
    case_topics_enabled: bool = Field(
        default=True, description="Publish case changes on envgrid/v1/cases/{township}/{case}"
    )
    session_expiry_s: int = Field(
        default=7 * 24 * 3600, ge=0, description="How long the broker keeps a worker's session"
    )

    auth_session_idle_s: int = Field(
        default=12 * 3600,
        ge=60,
        le=30 * 86400,
        description="A browser session unused for this long ends (sign in again)",
    )
    auth_session_max_s: int = Field(
        default=7 * 86400,
        ge=60,
        le=365 * 86400,
        description="A browser session ends this long after sign-in, however much it is used",
    )
    auth_cookie_secure: bool = Field(
        default=False,
        description="Send the session cookie over HTTPS only (set true behind TLS)",
    )
    auth_login_max_failures: int = Field(
        default=5, ge=1, le=1000, description="Failed logins per account within the window"
    )
    auth_address_max_failures: int = Field(
        default=20, ge=1, le=100000, description="Failed logins per address within the window"
    )
    auth_login_window_s: int = Field(
        default=900,
        ge=1,
        le=86400,
        description="The window for counting failed logins; beyond the limits, 429 until it passes",
    )

    desk_url: str = Field(
        default="http://127.0.0.1:8080",
        max_length=500,
        pattern=r"^https?://\S+$",
        description="Base URL of the desk in notifications' links ({desk_url}/cases/{id})",
    )
    notify_enabled: bool = Field(
        default=True,
        description="Deliver notifications (robots, e-mail) and reminders from this API process",
    )
    notify_poll_s: float = Field(
        default=1.0, gt=0, le=60, description="Seconds between two looks at the outbox"
    )
    notify_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="Longest wait for a robot's or the SMTP server's answer, in seconds",
    )
    notify_backoff_min_s: float = Field(
        default=2.0, gt=0, le=3600, description="First wait before retrying a failed channel"
    )
    notify_backoff_max_s: float = Field(
        default=300.0,
        gt=0,
        le=86400,
        description="Longest wait between retries (the wait doubles from the first)",
    )
    notify_failing_after: int = Field(
        default=3,
        ge=1,
        le=1000,
        description="Failures in a row after which a channel is shown as failing",
    )
    smtp_host: str = Field(
        default="", description="SMTP server for e-mail channels; empty: no e-mail is sent"
    )
    smtp_port: int = Field(
        default=0, ge=0, le=65535, description="SMTP port; 0: 587 (starttls), 465 (tls) or 25"
    )
    smtp_mode: Literal["starttls", "tls", "none"] = Field(
        default="starttls",
        description="starttls (upgrade the connection), tls (TLS from the start) or none",
    )
    smtp_user: str = Field(default="", description="SMTP login; empty: no authentication")
    smtp_password: SecretStr = Field(default=SecretStr(""), description="SMTP password")
    smtp_from: str = Field(
        default="envgrid <envgrid@localhost>", description="The From of notification e-mails"
    )
    smtp_ca_file: str = Field(
        default="",
        description="CA certificates to verify the SMTP server with; empty: the system's",
    )
    reminder_critical_min: int = Field(
        default=15,
        ge=0,
        le=10080,
        description="Remind the assignee of an unacknowledged critical case every this many "
        "minutes (0: never)",
    )
    reminder_high_min: int = Field(
        default=30, ge=0, le=10080, description="The same for a high case"
    )
    reminder_medium_min: int = Field(
        default=60, ge=0, le=10080, description="The same for a medium case"
    )
    reminder_low_min: int = Field(
        default=240, ge=0, le=10080, description="The same for a low case"
    )
