"""Uplink acknowledgement tracking (with a fake paho client) and gateway settings."""

from __future__ import annotations

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from envgrid_common.mqtt import PublishRefused, check_publish
from envgrid_gateway.outbound import Done, Outgoing
from envgrid_gateway.settings import GatewaySettings
from envgrid_gateway.uplink import Uplink

SUCCESS = ReasonCode(PacketTypes.PUBACK, "Success")
REFUSED = ReasonCode(PacketTypes.PUBACK, "Not authorized")


class FakeClient:
    """Hands out packet ids; can acknowledge inside publish(), as a fast broker may."""

    def __init__(self, uplink: Uplink) -> None:
        self.uplink = uplink
        self.mid = 0
        self.ack_early = False
        self.rc = mqtt.MQTT_ERR_SUCCESS

    def publish(self, topic: str, payload: bytes, qos: int, retain: bool) -> mqtt.MQTTMessageInfo:
        self.mid += 1
        info = mqtt.MQTTMessageInfo(self.mid)
        info.rc = self.rc
        if self.ack_early:
            self.puback(self.mid)
        return info

    def publish_qos1(self, topic: str, payload: bytes, retain: bool) -> int:
        return check_publish(self.publish(topic, payload, 1, retain)).mid

    def puback(self, mid: int, code: ReasonCode = SUCCESS) -> None:
        self.uplink._on_publish(self, None, mid, code, None)  # type: ignore[arg-type]


def uplink() -> tuple[Uplink, FakeClient, list[tuple[str, str | None]]]:
    up = Uplink(GatewaySettings(topic_root="a", uplink_topic_root="b"))
    fake = FakeClient(up)
    up._client = fake  # type: ignore[assignment]
    return up, fake, []


def test_done_fires_on_the_matching_puback() -> None:
    up, fake, settled = uplink()
    up.send(Outgoing("t/x", b"1"), lambda r: settled.append(("x", r)))
    up.send(Outgoing("t/y", b"1"), lambda r: settled.append(("y", r)))
    assert up.outstanding == 2
    fake.puback(2)
    fake.puback(1, REFUSED)
    assert settled == [("y", None), ("x", "Not authorized")]
    assert up.outstanding == 0


def test_a_puback_before_publish_returns_is_not_lost() -> None:
    up, fake, settled = uplink()
    fake.ack_early = True
    up.send(Outgoing("t/x", b"1"), lambda r: settled.append(("x", r)))
    assert settled == [("x", None)]
    fake.ack_early = False
    up.send(Outgoing("t/y", b"1"), lambda r: settled.append(("y", r)))
    assert settled == [("x", None)]  # the early ack was used once, not remembered
    fake.puback(2)
    assert settled == [("x", None), ("y", None)]


def test_a_publish_paho_refuses_raises() -> None:
    up, fake, _ = uplink()
    fake.rc = mqtt.MQTT_ERR_QUEUE_SIZE
    with pytest.raises(PublishRefused):
        up.send(Outgoing("t/x", b"1"), lambda _: None)
    assert up.outstanding == 0


def test_uplink_defaults_to_the_local_broker_and_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVGRID_MQTT_URL", "mqtt://township:1883")
    monkeypatch.setenv("ENVGRID_TOPIC_ROOT", "town")
    monkeypatch.setenv("ENVGRID_GATEWAY_ID", "luxi")
    settings = GatewaySettings()
    assert settings.uplink_url == "mqtt://township:1883"
    assert settings.uplink_topics.root == "town"
    assert settings.local_client_id == "envgrid-gateway-luxi"
    assert settings.uplink_client_id != settings.local_client_id
    with pytest.raises(ValueError, match="would come back"):
        settings.check_no_loop()
    monkeypatch.setenv("ENVGRID_UPLINK_MQTT_URL", "mqtt://cloud:1883")
    GatewaySettings().check_no_loop()
    monkeypatch.delenv("ENVGRID_UPLINK_MQTT_URL")
    monkeypatch.setenv("ENVGRID_UPLINK_TOPIC_ROOT", "town-up")
    GatewaySettings().check_no_loop()


def test_receive_maximum_stays_clear_of_paho_packet_id_limit() -> None:
    with pytest.raises(ValueError, match="gateway_receive_maximum"):
        GatewaySettings(gateway_receive_maximum=65535)


def test_beyond_the_window_messages_wait_in_order_for_room() -> None:
    # The local broker redelivers what a lost connection left unacknowledged; while the uplink
    # has not acknowledged the first copies, the excess must not all go on the wire.
    up = Uplink(GatewaySettings(topic_root="a", uplink_topic_root="b", gateway_receive_maximum=2))
    fake = FakeClient(up)
    up._client = fake  # type: ignore[assignment]
    limit = 2 + 100  # the window and room for status messages
    settled: list[int] = []
    topics: list[str] = []
    real_publish = fake.publish

    def publish(topic: str, payload: bytes, qos: int, retain: bool) -> mqtt.MQTTMessageInfo:
        topics.append(topic)
        return real_publish(topic, payload, qos, retain)

    fake.publish = publish  # type: ignore[method-assign]
    for n in range(limit + 3):
        up.send(Outgoing(f"t/{n}", b"1"), lambda r, n=n: settled.append(n))  # type: ignore[misc]
    assert fake.mid == limit, "only the window goes to paho"
    assert up.outstanding == limit + 3
    fake.puback(5)
    assert settled == [4]
    assert topics[-1] == f"t/{limit}", "the oldest held one goes next"
    for mid in range(1, limit + 4):
        if mid != 5:
            fake.puback(mid)
    assert sorted(settled) == list(range(limit + 3))
    assert topics == [f"t/{n}" for n in range(limit + 3)]
    assert up.outstanding == 0


def test_a_batch_is_published_in_order_and_a_refused_one_stays_unsettled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    up, fake, settled = uplink()
    refuse_second = fake.publish

    def publish(topic: str, payload: bytes, qos: int, retain: bool) -> mqtt.MQTTMessageInfo:
        fake.rc = mqtt.MQTT_ERR_QUEUE_SIZE if topic == "t/2" else mqtt.MQTT_ERR_SUCCESS
        return refuse_second(topic, payload, qos, retain)

    def done(n: int) -> Done:
        return lambda refused: settled.append((str(n), refused))

    fake.publish = publish  # type: ignore[method-assign]
    up.send_all([(Outgoing(f"t/{n}", b"1"), done(n)) for n in (1, 2, 3)])
    for mid in (1, 3):
        fake.puback(mid)
    assert settled == [("1", None), ("3", None)]
    assert "could not publish a message to t/2" in caplog.text
