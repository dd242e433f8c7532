"""One network thread for MQTT connections: buffered I/O, fast packet paths, a keepalive that
counts every byte received, flow control by not reading."""

from envgrid_common.netloop.bufsock import BufferedSocket
from envgrid_common.netloop.client import LoopClient, new_loop_client, readable_topic
from envgrid_common.netloop.loop import NetLoop

__all__ = ["BufferedSocket", "LoopClient", "NetLoop", "new_loop_client", "readable_topic"]
