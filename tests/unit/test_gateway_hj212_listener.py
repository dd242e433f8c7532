"""The HJ 212 listener over real localhost TCP, with a fake bridge: answers, refusals, bounds."""

from __future__ import annotations

import json
import time
from datetime import timedelta

from envgrid_common.clock import utc_now
from envgrid_common.hj212 import (
    CrcMode,
    Edition,
    Tolerance,
    build_frame,
    format_time,
    parse_frame,
)
from tests.polling import wait_until
from tests.unit.hj212_listener_support import (
    MN,
    NODE,
    PW,
    FakeBridge,
    closed_by_peer,
    connect,
    devices,
    flag,
    listener,
    read_until,
    upload,
    uploads,
)


def test_an_upload_becomes_a_reading_and_is_answered_only_once_stored() -> None:
    bridge = FakeBridge(hold=True)
    with listener(bridge) as adapter, connect(adapter) as sock:
        sock.sendall(upload(qn="20260501080000123"))
        wait_until(lambda: bool(bridge.topics("/readings")), 5, "a reading")
        sock.settimeout(0.3)
        try:
            early = sock.recv(100)
        except TimeoutError:
            early = b""
        assert early == b"", "answered before the reading was stored"
        bridge.release()
        answer = parse_frame(read_until(sock, b"\r\n"))
        assert (answer.cn, answer.qn, answer.mn) == ("9014", "20260501080000123", MN)
        reading = json.loads(bridge.topics("/readings")[0].payload)
        assert bridge.topics("/readings")[0].topic == f"t-hj212/v1/nodes/{NODE}/readings"
        assert reading["values"] == {"cod": 35.2, "nh3n": 1.4}
        assert reading["flags"] == {"cod": "N"}
        statuses = bridge.topics(f"{NODE}/status")
        assert json.loads(statuses[0].payload)["state"] == "online"
        assert statuses[0].retain
        assert adapter.counters()["hj212_readings"] == 1


def test_a_frame_sent_twice_gives_the_same_reading() -> None:
    bridge = FakeBridge()
    with listener(bridge) as adapter, connect(adapter) as sock:
        frame = upload(data_time=format_time(utc_now()))
        for _ in range(2):
            sock.sendall(frame)
            read_until(sock, b"\r\n")
        first, second = (json.loads(m.payload) for m in bridge.topics("/readings"))
        assert (first["seq"], first["ts"]) == (second["seq"], second["ts"])


def test_a_bad_frame_is_dead_lettered_unanswered_and_the_next_one_flows() -> None:
    bridge = FakeBridge()
    with listener(bridge) as adapter, connect(adapter) as sock:
        bad = bytearray(upload(qn="20260501080000001"))
        bad[40] ^= 0x01  # one bit flipped in transit
        sock.sendall(bytes(bad) + upload(qn="20260501080000002"))
        answer = parse_frame(read_until(sock, b"\r\n"))
        assert answer.qn == "20260501080000002"
        letters = bridge.refused()
        assert len(letters) == 1
        assert letters[0].payload == bytes(bad).rstrip()
        assert letters[0].refused is not None
        assert letters[0].refused.startswith("HJ 212 crc_mismatch")
        assert len(bridge.topics("/readings")) == 1


def test_an_unknown_mn_is_held_pending_counted_and_not_answered() -> None:
    bridge = FakeBridge()
    with listener(bridge) as adapter, connect(adapter) as sock:
        stranger = "88888880000001"
        for n in range(3):
            sock.sendall(upload(mn=stranger, qn=f"2026050108000000{n}"))
        wait_until(lambda: adapter.counters().get("hj212_pending_frames") == 3, 5, "3 counted")
        counters = adapter.counters()
        assert counters[f"hj212_pending_mn.{stranger}"] == 3
        assert counters["hj212_pending_mns"] == 1
        assert not bridge.topics("/readings")
        letters = bridge.refused()  # the first frame, for the operator to see
        assert len(letters) == 1
        assert "pending_registration" in (letters[0].refused or "")
        assert not closed_by_peer(sock, 0.3)  # and no answer came


def test_a_wrong_password_is_refused_with_9011_pw_error() -> None:
    bridge = FakeBridge()
    with listener(bridge) as adapter, connect(adapter) as sock:
        sock.sendall(upload(pw="999999"))
        answer = parse_frame(read_until(sock, b"\r\n"))
        assert answer.cn == "9011"
        assert answer.cp.fields["QnRtn"] == "3"
        assert not bridge.topics("/readings")
        assert "wrong_password" in (bridge.refused()[0].refused or "")


def test_the_crc_mode_is_learnt_per_device_and_a_pinned_one_holds() -> None:
    bridge = FakeBridge()
    table = devices()
    with listener(bridge, table) as adapter, connect(adapter) as sock:
        # A CRC of two equal bytes fits both byte orders (1 in 256): take one that does not.
        candidates = (
            upload(
                crc=CrcMode.MODBUS_LE,
                qn="20260501080000001",
                data_time=format_time(utc_now() - timedelta(seconds=n)),
            )
            for n in range(50)
        )
        first = next(frame for frame in candidates if frame[-6:-4] != frame[-4:-2])
        sock.sendall(first)
        answer = read_until(sock, b"\r\n")
        assert parse_frame(answer).crc_mode is CrcMode.MODBUS_LE  # answered in its own mode
        assert table.get(MN) is not None
        assert table.get(MN).crc is CrcMode.MODBUS_LE  # type: ignore[union-attr]
        sock.sendall(upload(crc=CrcMode.STANDARD, qn="20260501080000002"))
        wait_until(lambda: bool(bridge.refused()), 5, "a refusal")
        assert "crc_mode" in (bridge.refused()[0].refused or "")


def test_a_heartbeat_keeps_the_node_online_and_a_disconnect_takes_it_offline() -> None:
    bridge = FakeBridge()
    with listener(bridge) as adapter:
        with connect(adapter) as sock:
            beat = build_frame(
                st="32", cn="8013", pw=PW, mn=MN, cp="HeartbeatTime=120", flag=flag(ack=False)
            )
            sock.sendall(beat)
            wait_until(lambda: adapter.counters().get("hj212_heartbeats") == 1, 5, "heartbeat")
        wait_until(lambda: len(bridge.topics(f"{NODE}/status")) == 2, 5, "offline")
        states = [json.loads(m.payload)["state"] for m in bridge.topics(f"{NODE}/status")]
        assert states == ["online", "offline"]


def test_a_silent_connection_is_closed_when_idle() -> None:
    bridge = FakeBridge()
    with listener(bridge, hj212_idle_s=0.5) as adapter, connect(adapter) as sock:
        assert closed_by_peer(sock, 5)
        assert adapter.counters()["hj212_closed_idle"] == 1


def test_a_frame_trickled_too_slowly_is_dropped_with_its_connection() -> None:
    bridge = FakeBridge()
    with listener(bridge, hj212_frame_timeout_s=0.6, hj212_idle_s=60) as adapter:
        with connect(adapter) as sock:
            frame = upload()
            for byte in frame[:30]:  # one byte every 0.1 s: never idle, never complete
                sock.sendall(bytes([byte]))
                time.sleep(0.05)
                if closed_by_peer(sock, 0.05):
                    break
            assert closed_by_peer(sock, 3)
        assert adapter.counters()["hj212_closed_frame_timeout"] == 1
        assert "truncated" in (bridge.refused()[0].refused or "")


def test_an_oversize_length_field_is_refused_and_the_connection_stays() -> None:
    bridge = FakeBridge()
    with listener(bridge) as adapter, connect(adapter) as sock:
        sock.sendall(b"##9000QN=1;" + b"x" * 100 + b"\r\n" + upload(qn="20260501080000009"))
        answer = parse_frame(read_until(sock, b"\r\n"))
        assert answer.qn == "20260501080000009"
        assert any("oversize" in (m.refused or "") for m in bridge.refused())


def test_garbage_without_end_closes_the_connection_after_the_refusal_bound() -> None:
    bridge = FakeBridge()
    with listener(bridge, hj212_max_refused=5) as adapter, connect(adapter) as sock:
        for _ in range(10):
            sock.sendall(b"##00x1junk\r\n")
        assert closed_by_peer(sock, 5)
        assert adapter.counters()["hj212_closed_too_many_refused"] == 1


def test_connections_are_bounded_per_address_and_in_all() -> None:
    bridge = FakeBridge()
    with listener(bridge, hj212_max_per_address=2, hj212_max_connections=3) as adapter:
        first, second = connect(adapter), connect(adapter)
        third = connect(adapter)
        assert closed_by_peer(third, 3)
        wait_until(lambda: adapter.counters()["hj212_connections"] == 2, 3, "two open")
        assert not closed_by_peer(first, 0.2)
        assert not closed_by_peer(second, 0.2)
        assert adapter.counters()["hj212_connections_refused"] == 1
        for sock in (first, second, third):
            sock.close()
        wait_until(lambda: adapter.counters()["hj212_connections"] == 0, 3, "all closed")


def test_reading_pauses_while_too_many_frames_wait_for_the_disk() -> None:
    bridge = FakeBridge(hold=True)
    with listener(bridge, hj212_max_unanswered=3) as adapter, connect(adapter) as sock:
        frames = b"".join(upload(qn=f"202605010800001{n:02d}") for n in range(10))
        sock.sendall(frames)
        wait_until(lambda: adapter.counters()["hj212_unanswered"] >= 3, 5, "3 waiting")
        time.sleep(0.3)
        assert adapter.counters()["hj212_unanswered"] <= 4  # a read in progress may add one
        while len(bridge.topics("/readings")) < 10:
            bridge.release()
            time.sleep(0.05)
        bridge.release()
        data = b""
        while data.count(b"\r\n") < 10:
            data += read_until(sock, b"\r\n")
        assert data.count(b"CN=9014") == 10


def split_upload(qn: str) -> list[bytes]:
    """An upload of four factors split into packets of at most 150 characters."""
    factors = {
        code: {"Rtd": "1.5", "Flag": "N"} for code in ("w01018", "w21003", "w21011", "w21001")
    }
    return uploads(qn=qn, factors=factors, max_segment=150)


def test_split_packets_make_one_reading_answered_once_stored() -> None:
    bridge = FakeBridge()
    with listener(bridge) as adapter, connect(adapter) as sock:
        packets = split_upload("20260501080000321")
        assert len(packets) >= 3
        for packet in reversed(packets):  # in any order
            sock.sendall(packet)
        answer = parse_frame(read_until(sock, b"\r\n"))
        assert (answer.cn, answer.qn) == ("9014", "20260501080000321")
        (reading,) = (json.loads(m.payload) for m in bridge.topics("/readings"))
        assert set(reading["values"]) == {"cod", "nh3n", "tp", "tn"}


def test_a_split_upload_left_incomplete_is_dead_lettered_after_its_timeout() -> None:
    bridge = FakeBridge()
    with listener(bridge, hj212_split_timeout_s=0.3) as adapter, connect(adapter) as sock:
        sock.sendall(split_upload("20260501080000322")[0])
        wait_until(lambda: bool(bridge.refused()), 5, "the split timeout")
        assert (bridge.refused()[0].refused or "").startswith("HJ 212 split_timeout")
        assert not bridge.topics("/readings")


def test_an_edition_the_device_is_not_set_to_is_refused() -> None:
    bridge = FakeBridge()
    table = devices(editions=frozenset({Edition.HJ212_2025}))
    with listener(bridge, table) as adapter, connect(adapter) as sock:
        sock.sendall(upload(edition=Edition.HJ212_2017))
        wait_until(lambda: bool(bridge.refused()), 5, "a refusal")
        assert "unexpected_edition" in (bridge.refused()[0].refused or "")


def test_a_2005_upload_is_answered_with_its_qn_in_cp_and_answers_from_devices_counted() -> None:
    bridge = FakeBridge()
    with listener(bridge) as adapter, connect(adapter) as sock:
        old = build_frame(
            st="32",
            cn="2051",
            pw=PW,
            mn=MN,
            qn="20260501080000555",
            flag=1,
            cp=f"DataTime={format_time(utc_now())};011-Avg=30.0,011-Flag=N",
        )
        sock.sendall(old)
        answer = parse_frame(read_until(sock, b"\r\n"))
        assert answer.cn == "9014"
        assert answer.cp.fields["QN"] == "20260501080000555"
        result = build_frame(
            st="91", cn="9012", pw=PW, mn=MN, qn="20260501080000556", cp="ExeRtn=1"
        )
        sock.sendall(result)
        wait_until(lambda: adapter.counters().get("hj212_cn_9012") == 1, 5, "9012 counted")
        (reading,) = (json.loads(m.payload) for m in bridge.topics("/readings"))
        assert reading["values"] == {"cod": 30.0}


def long_upload() -> bytes:
    codes = ("w01018", "w21003", "w21011", "w21001", "w01001", "w00000")
    factors = {c: {"Rtd": "1.5", "Min": "1.0", "Max": "2.0", "Flag": "N"} for c in codes}
    factors.update({f"e1{n:02d}01": {"Rtd": "1.0", "Flag": "N"} for n in range(40)})
    frame = upload(qn="20260501080000777", factors=factors, max_segment=9999)
    assert len(frame) > 1100
    return frame


def test_a_long_frame_passes_only_for_a_device_allowed_oversize() -> None:
    bridge = FakeBridge()
    with listener(bridge) as adapter, connect(adapter) as sock:
        sock.sendall(long_upload())
        wait_until(lambda: bool(bridge.refused()), 5, "a refusal")
        assert "oversize" in (bridge.refused()[0].refused or "")
    bridge = FakeBridge()
    table = devices(tolerance=Tolerance.OVERSIZE)
    with listener(bridge, table) as adapter, connect(adapter) as sock:
        sock.sendall(long_upload())
        assert parse_frame(read_until(sock, b"\r\n")).cn == "9014"
        assert not bridge.refused()
