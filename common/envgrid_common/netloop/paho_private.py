"""Every private name of paho-mqtt's ``Client`` that netloop touches, checked at import.

paho 2.x offers no public way to hand it a socket, to see a packet before its general decoder
does, or to drop a connection as lost; :class:`~envgrid_common.netloop.client.LoopClient`
reaches into these names for that. They are listed here, and only here, so that a paho
upgrade that renames one fails at import with the names and the version, not later inside
the network thread. tests/unit/test_netloop_paho_private.py scans the netloop sources and
fails if one is used and not listed.
"""

from __future__ import annotations

import paho.mqtt
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

# The versions these names were checked against (a test compares the installed one).
TESTED_PAHO = ("2.1", "2.2")

PAHO_PRIVATE: tuple[str, ...] = (
    # Methods LoopClient overrides.
    "_create_socket",  # use the socket the loop connected, buffered
    "_easy_log",  # paho's errors to our log without formatting every debug line
    "_packet_read",  # a packet whole in the buffer in one piece, not a read per header byte
    "_packet_handle",  # QoS 1 PUBLISH and plain PUBACK without paho's general decoder
    "_send_puback",  # PUBACK straight into the buffered socket
    # Methods LoopClient calls.
    "_loop_rc_handle",  # drop a connection as lost (on_disconnect included)
    "_do_on_publish",  # settle a publish on its PUBACK as paho does
    "_handle_on_message",  # deliver a decoded message as paho does
    "_mid_generate",  # packet ids for the fast publish path, shared with paho's own
    # State LoopClient reads or updates.
    "_in_packet",  # the packet being read: {"command": int, "packet": bytearray, ...}
    "_out_packet",  # packets paho queued and has not written: they go first
    "_out_messages",  # unacknowledged publishes by packet id: resent on reconnect
    "_out_message_mutex",  # guards _out_messages
    "_inflight_messages",  # paho's count of publishes in flight, kept in step
    "_sock",  # the connected socket (None while disconnected)
)

# What the cheap MQTTMessage subclass sets that MQTTMessage keeps private.
PAHO_MESSAGE_PRIVATE: tuple[str, ...] = ("_topic",)  # the topic as bytes


def missing() -> list[str]:
    """The listed names that paho's ``Client`` or ``MQTTMessage`` lacks, qualified."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    message = mqtt.MQTTMessage(0, b"t")
    return [f"Client.{name}" for name in PAHO_PRIVATE if not hasattr(client, name)] + [
        f"MQTTMessage.{name}" for name in PAHO_MESSAGE_PRIVATE if not hasattr(message, name)
    ]


def check() -> None:
    """Raise ImportError naming the paho version if any listed name is gone."""
    gone = missing()
    if gone:
        raise ImportError(
            f"envgrid_common.netloop relies on private parts of paho-mqtt that "
            f"paho-mqtt {paho.mqtt.__version__} does not have: {', '.join(gone)} (checked "
            f"against paho-mqtt {', '.join(TESTED_PAHO)}); install a tested version or adapt "
            "envgrid_common/netloop/client.py"
        )


check()
