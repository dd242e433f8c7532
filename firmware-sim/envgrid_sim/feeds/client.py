"""The replayer's MQTT client: the netloop client, with PUBACKs that carry a reason code fast."""

from __future__ import annotations

from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from envgrid_common.mqtt import BrokerAddress, new_client
from envgrid_common.netloop import LoopClient
from envgrid_common.netloop.client import NO_PUBACK_PROPERTIES

_PUBACK = 0x40
_REASONS: dict[int, ReasonCode] = {}


def _reason(value: int) -> ReasonCode:
    """One shared ReasonCode per PUBACK reason value (read them, never change them)."""
    reason = _REASONS.get(value)
    if reason is None:
        reason = _REASONS[value] = ReasonCode(PacketTypes.PUBACK, identifier=value)
    return reason


class ReplayClient(LoopClient):
    """A :class:`LoopClient` that also takes a PUBACK with a reason code and no properties
    without paho's general decoder (two Properties objects a packet).

    A broker answers "no matching subscribers" (0x10) to every message of a replay nobody
    listens to, and Mosquitto sends the reason code even then: that is most PUBACKs of a
    replay into a broker alone.
    """

    def _packet_handle(self) -> MQTTErrorCode:
        if self.fast_paths:
            command: int = self._in_packet["command"]
            body: bytearray = self._in_packet["packet"]
            size = len(body)
            if command & 0xF0 == _PUBACK and (size == 3 or (size == 4 and body[3] == 0)):
                mid = (body[0] << 8) | body[1]
                with self._out_message_mutex:
                    if mid in self._out_messages:
                        return self._do_on_publish(mid, _reason(body[2]), NO_PUBACK_PROPERTIES)
                return MQTTErrorCode.MQTT_ERR_SUCCESS
        return super()._packet_handle()


def new_replay_client(client_id: str, address: BrokerAddress) -> ReplayClient:
    """A :class:`ReplayClient`, set up as :func:`~envgrid_common.netloop.new_loop_client` does
    (no paho in-flight limit: the replayer keeps its own window)."""
    client = new_client(client_id, address, max_inflight=0, client_class=ReplayClient)
    assert isinstance(client, ReplayClient)
    return client
