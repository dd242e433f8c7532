"""Feed files: what is written reads back the same, and a torn tail costs only itself."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from envgrid_sim.feeds.format import (
    BLOCK_HEAD,
    MAGIC,
    FeedError,
    FeedRecord,
    encode_header,
    pack_properties,
    unpack_properties,
)
from envgrid_sim.feeds.reader import FeedReader, feed_files
from envgrid_sim.feeds.writer import FeedWriter

JPEG = bytes(range(256)) * 40 + b"\xff\xd8\xff\xe0\x00\x00\n\r\n"  # every byte value, newlines


def _properties() -> bytes:
    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    props.ContentType = "image/jpeg"
    props.PayloadFormatIndicator = 0
    props.MessageExpiryInterval = 600
    props.UserProperty = [("camera", "cam-01"), ("camera", "second value")]
    props.TopicAlias = 7  # per connection: not kept
    return pack_properties(props)


def _records() -> list[FeedRecord]:
    return [
        FeedRecord(1_700_000_000_000_000_001, "envgrid/v1/nodes/n1/readings", 1, False, b"", b"{}"),
        FeedRecord(1_700_000_000_500_000_000, "envgrid/v1/nodes/n1/status", 1, True, b"", b""),
        FeedRecord(
            1_700_000_001_000_000_000,
            "envgrid/v1/nodes/cam/snapshots/e-1",
            1,
            False,
            _properties(),
            JPEG,
        ),
        FeedRecord(1_700_000_002_000_000_000, "其他/主题", 0, False, b"", "中文".encode()),
    ]


def _write(path: Path, records: list[FeedRecord], *, block_bytes: int = 1 << 20) -> None:
    writer = FeedWriter(path, {"test": True}, block_bytes=block_bytes)
    for r in records:
        writer.add(r.time_ns, r.topic.encode(), r.qos, r.retain, r.properties, r.payload)
    writer.close()


def test_records_read_back_as_written_binary_and_properties_included(tmp_path: Path) -> None:
    path = tmp_path / "a.egfeed"
    _write(path, _records(), block_bytes=100)  # several blocks
    reader = FeedReader(path)
    assert list(reader.records()) == _records()
    assert reader.tail is None
    assert reader.meta["test"] is True
    assert reader.version == 1
    assert len(list(reader.blocks())) > 1
    assert reader.count() == 4


def test_kept_properties_survive_and_connection_ones_do_not() -> None:
    props = unpack_properties(_properties())
    assert props is not None
    assert getattr(props, "ContentType", None) == "image/jpeg"
    assert getattr(props, "MessageExpiryInterval", None) == 600
    assert getattr(props, "UserProperty", None) == [
        ("camera", "cam-01"),
        ("camera", "second value"),
    ]
    assert not hasattr(props, "TopicAlias")
    assert pack_properties(None) == b""
    assert pack_properties(Properties(PacketTypes.PUBLISH)) == b""  # type: ignore[no-untyped-call]
    assert unpack_properties(b"") is None


def test_reading_starts_at_a_record_index_across_blocks(tmp_path: Path) -> None:
    path = tmp_path / "a.egfeed"
    _write(path, _records(), block_bytes=100)
    for start in range(5):
        assert list(FeedReader(path).records(start)) == _records()[start:]


def test_unflushed_records_are_not_in_the_file_and_flushed_ones_are(tmp_path: Path) -> None:
    path = tmp_path / "a.egfeed"
    writer = FeedWriter(path, {})
    first, second = _records()[:2]
    writer.add(first.time_ns, first.topic.encode(), 1, False, b"", first.payload)
    assert writer.flush() == 1
    writer.add(second.time_ns, second.topic.encode(), 1, True, b"", second.payload)
    # A kill now: the second record was never written; the first is whole.
    assert list(FeedReader(path).records()) == [first]
    writer.close()
    assert list(FeedReader(path).records()) == [first, second]


@pytest.mark.parametrize("cut", [1, BLOCK_HEAD.size - 1, BLOCK_HEAD.size + 3])
def test_a_torn_tail_is_skipped_and_reported(tmp_path: Path, cut: int) -> None:
    path = tmp_path / "a.egfeed"
    _write(path, _records(), block_bytes=100)
    whole = path.read_bytes()
    blocks = list(FeedReader(path).blocks())
    last_start = blocks[-1].offset - BLOCK_HEAD.size
    path.write_bytes(whole[: last_start + cut])  # the last block half-written
    reader = FeedReader(path)
    got = list(reader.records())
    assert got == _records()[: len(got)]
    assert len(got) == 4 - blocks[-1].count
    assert reader.tail is not None
    assert reader.tail.offset == last_start
    assert reader.tail.skipped_bytes == cut
    assert "torn tail" in str(reader.tail)


def test_a_damaged_last_block_is_dropped_by_its_checksum(tmp_path: Path) -> None:
    path = tmp_path / "a.egfeed"
    _write(path, _records(), block_bytes=100)
    data = bytearray(path.read_bytes())
    data[-2] ^= 0xFF
    path.write_bytes(bytes(data))
    reader = FeedReader(path)
    got = list(reader.records())
    assert got == _records()[: len(got)]
    assert len(got) < 4
    assert reader.tail is not None


def test_a_file_killed_before_its_header_is_an_empty_feed(tmp_path: Path) -> None:
    path = tmp_path / "a.egfeed"
    path.write_bytes(encode_header({"x": 1})[:-3])
    reader = FeedReader(path)
    assert list(reader.records()) == []
    assert reader.tail is not None
    assert reader.count() == 0


def test_other_files_and_newer_formats_are_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.egfeed"
    other.write_bytes(b"timestamp,topic,payload\n")
    with pytest.raises(FeedError, match="not an envgrid feed"):
        FeedReader(other)
    newer = tmp_path / "newer.egfeed"
    newer.write_bytes(MAGIC + (99).to_bytes(2, "little") + (2).to_bytes(4, "little") + b"{}")
    with pytest.raises(FeedError, match="newer"):
        FeedReader(newer)


def test_a_feed_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "a.egfeed"
    _write(path, _records())
    with pytest.raises(FileExistsError):
        FeedWriter(path, {})


def test_directories_expand_to_their_feeds_in_name_order(tmp_path: Path) -> None:
    for name in ("b.egfeed", "a.egfeed", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    assert feed_files([tmp_path]) == [tmp_path / "a.egfeed", tmp_path / "b.egfeed"]
    with pytest.raises(FeedError):
        feed_files([tmp_path / "missing"])
    os.remove(tmp_path / "a.egfeed")
    os.remove(tmp_path / "b.egfeed")
    with pytest.raises(FeedError, match="no"):
        feed_files([tmp_path])
