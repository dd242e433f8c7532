"""Gateway settings (``ENVGRID_`` variables or the YAML file in ``ENVGRID_CONFIG``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from envgrid_common.messages import ID_PATTERN
from envgrid_common.mqtt import BrokerAddress
from envgrid_common.paths import default_data_dir
from envgrid_common.settings import EnvgridSettings
from envgrid_common.topics import Topics

# paho refuses a QoS 1 publish once 65,535 are outstanding (its packet ids would wrap onto
# unacknowledged ones); every unacknowledged local message is at most one uplink publish,
# so a Receive Maximum well below that, with room for status messages, keeps us clear.
MAX_RECEIVE_MAXIMUM = 60000


class GatewaySettings(EnvgridSettings):
    """What one township gateway needs: its local broker (``mqtt_url``) and the cloud's."""

    uplink_mqtt_url: str | None = Field(
        default=None,
        description="Cloud broker the gateway forwards to; default: the local broker (mqtt_url)",
    )
    uplink_topic_root: str | None = Field(
        default=None,
        description="Topic root upstream; default: topic_root (must differ on a shared broker)",
    )
    gateway_id: str = Field(
        default="gateway-1", pattern=ID_PATTERN, description="This gateway's id (fixed: sessions)"
    )
    # Room for the network thread to go on reading while the writer commits the previous
    # rounds (a round is up to 1,000 messages): at 2,000 it stopped, waiting for the disk
    # (bench/gateway.py --profile: local_unacked at its limit; 10,000 drained 1.3× faster).
    gateway_receive_maximum: int = Field(
        default=10000,
        ge=1,
        le=MAX_RECEIVE_MAXIMUM,
        description="Local messages held unacknowledged until they are on the gateway's disk",
    )
    gateway_session_expiry_s: int = Field(
        default=7 * 24 * 3600, ge=0, description="How long brokers keep the gateway's sessions"
    )
    gateway_status_interval_s: float = Field(
        default=15.0, gt=0, description="Seconds between retained status updates upstream"
    )
    gateway_summary_interval_s: float = Field(
        default=30.0, gt=0, description="Seconds between summary lines in the log"
    )
    gateway_drain_timeout_s: float = Field(
        default=5.0, ge=0, description="On stop, how long to wait for the uplink's acknowledgements"
    )
    gateway_keepalive_s: int = Field(default=30, ge=5, description="MQTT keepalive on both sides")
    gateway_reconnect_max_s: float = Field(
        default=3.0, gt=0, description="Longest wait between reconnect attempts, in seconds"
    )
    # The gateway's threads (network loop, buffer writer, pump) hand work to each other all the
    # time; on a busy machine a thread woken by another waits for the interpreter lock up to
    # this long (Python's default is 5 ms), while the message it was handed waits too.
    gateway_switch_interval_ms: float = Field(
        default=0.5,
        gt=0,
        le=100,
        description="Longest a thread holds the interpreter lock while another waits, in ms",
    )

    @property
    def uplink_url(self) -> str:
        """The cloud broker's URL, defaulting to the local one."""
        return self.uplink_mqtt_url or self.mqtt_url

    @property
    def uplink_topics(self) -> Topics:
        """The topic grammar on the uplink side."""
        return Topics(self.uplink_topic_root or self.topic_root)

    @property
    def local_client_id(self) -> str:
        """Fixed MQTT client id on the local broker, so that the session persists."""
        return f"envgrid-gateway-{self.gateway_id}"

    @property
    def uplink_client_id(self) -> str:
        """Fixed client id on the uplink; distinct, as both sides may share one broker."""
        return f"envgrid-gateway-{self.gateway_id}-uplink"

    def check_no_loop(self) -> None:
        """Refuse to forward into our own subscription: same broker, same topic root."""
        local, uplink = BrokerAddress.parse(self.mqtt_url), BrokerAddress.parse(self.uplink_url)
        same_broker = (local.host, local.port) == (uplink.host, uplink.port)
        if same_broker and self.topics.root == self.uplink_topics.root:
            raise ValueError(
                f"the uplink is the local broker ({local}) under the same topic root "
                f"{self.topics.root!r}: forwarded messages would come back forever; set "
                "ENVGRID_UPLINK_MQTT_URL or ENVGRID_UPLINK_TOPIC_ROOT"
            )

    # The disk buffer between the township broker and the cloud broker (buffer.py).
    gateway_buffer_path: Path | None = Field(
        default=None,
        description=("Disk buffer file; default: <data dir>/gateway/<gateway_id>.sqlite"),
    )
    gateway_buffer_max_rows: int = Field(
        default=2_000_000, ge=1, description="Rows the buffer holds before dropping old readings"
    )
    gateway_buffer_max_bytes: int = Field(
        default=1024**3, ge=1, description="Bytes the buffer holds before dropping old readings"
    )
    gateway_buffer_max_age_s: float = Field(
        default=30 * 86400.0, gt=0, description="Readings older than this are dropped unsent"
    )
    # At 1,000 the window was full of rows the cloud had confirmed and the pump had not yet
    # collected: a larger one lets the pump take more per wake-up.
    gateway_buffer_window: int = Field(
        default=5000, ge=1, description="Buffered messages handed to the uplink at once"
    )

    # The HJ 212 TCP listener for data-acquisition units (数采仪): adapters/hj212, docs/hj212.md.
    # Off unless an address is set: without a device table it could only hold frames back.
    hj212_listen: str | None = Field(
        default=None,
        description="HOST:PORT the HJ 212 listener binds (e.g. 0.0.0.0:5520); empty: no listener",
    )
    hj212_devices: Path | None = Field(
        default=None,
        description="YAML device table: MN → node, password, CRC mode, tolerances, units",
    )
    # Real loggers send a heartbeat every 120 s and real-time data every 30-300 s.
    hj212_idle_s: float = Field(
        default=600.0, gt=0, description="A connection silent this long is closed (node offline)"
    )
    hj212_frame_timeout_s: float = Field(
        default=60.0, gt=0, description="A frame begun must be complete within this many seconds"
    )
    hj212_max_connections: int = Field(
        default=1000, ge=1, description="HJ 212 connections open at once; more are refused"
    )
    hj212_max_per_address: int = Field(
        default=32, ge=1, description="HJ 212 connections from one IP address; more are refused"
    )
    hj212_max_segment: int = Field(
        default=1024,
        ge=1,
        le=9999,
        description="Longest data segment in bytes (devices with the oversize tolerance: 9999)",
    )
    hj212_max_refused: int = Field(
        default=100, ge=1, description="Refused frames in a row after which a connection is closed"
    )
    # As many as the MQTT side holds (gateway_receive_maximum): each is one frame in memory.
    hj212_max_unanswered: int = Field(
        default=10000,
        ge=1,
        description="Frames awaiting the disk buffer; beyond it no connection is read",
    )
    # A device waits for its 9014 (stop-and-wait) and sees a stall as silence; a healthy
    # buffer stores a frame within milliseconds, even under load.
    hj212_stall_s: float = Field(
        default=10.0,
        gt=0,
        description="Frames waiting this long for the disk buffer, none stored: a stall (logged)",
    )
    hj212_split_timeout_s: float = Field(
        default=30.0, gt=0, description="How long the packets of a split upload (PNUM/PNO) wait"
    )
    hj212_historical_after_s: float = Field(
        default=1800.0,
        ge=0,
        description="Data whose window ended longer ago than this is marked historical",
    )

    @property
    def buffer_file(self) -> Path:
        """Where the disk buffer lives."""
        return (
            self.gateway_buffer_path or default_data_dir() / "gateway" / f"{self.gateway_id}.sqlite"
        )
