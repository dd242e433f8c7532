"""Rotated feed files: a new file by size or by age, names sorting in time order."""

from __future__ import annotations

from pathlib import Path

import pytest

from envgrid_common.clock import ManualSeconds
from envgrid_sim.feeds.reader import FeedReader, feed_files
from envgrid_sim.feeds.writer import RotatingFeed, feed_name

TOPIC = b"envgrid/v1/nodes/n1/readings"


def _payload(n: int) -> bytes:
    return b'{"seq":%d,"pad":"%s"}' % (n, b"x" * (n % 50))


def _read_all(directory: Path) -> list[bytes]:
    return [r.payload for path in feed_files([directory]) for r in FeedReader(path).records()]


def test_files_rotate_by_size_between_blocks_and_read_back_in_order(tmp_path: Path) -> None:
    feed = RotatingFeed(tmp_path, {}, rotate_bytes=2000)
    for n in range(300):
        feed.add(1_000 + n, TOPIC, 1, False, b"", _payload(n))
        if n % 20 == 19:
            feed.flush()
    feed.close()
    assert len(feed.files) > 2
    assert feed.files == sorted(feed.files)
    assert feed_files([tmp_path]) == feed.files
    assert _read_all(tmp_path) == [_payload(n) for n in range(300)]
    assert feed.total_records == 300
    for path in feed.files:
        assert FeedReader(path).meta["part"] == feed.files.index(path) + 1


def test_files_rotate_by_age(tmp_path: Path) -> None:
    clock = ManualSeconds(100.0)
    feed = RotatingFeed(tmp_path, {}, rotate_s=60, monotonic=clock)
    feed.add(1, TOPIC, 1, False, b"", b"a")
    feed.flush()
    clock.sleep(59)
    feed.add(2, TOPIC, 1, False, b"", b"b")
    feed.flush()
    assert len(feed.files) == 1
    clock.sleep(1)
    feed.add(3, TOPIC, 1, False, b"", b"c")
    feed.flush()  # the file is a minute old: the next record goes to a new one
    feed.add(4, TOPIC, 1, False, b"", b"d")
    feed.close()
    assert len(feed.files) == 2
    assert _read_all(tmp_path) == [b"a", b"b", b"c", b"d"]


def test_an_empty_file_is_not_rotated(tmp_path: Path) -> None:
    clock = ManualSeconds(0.0)
    feed = RotatingFeed(tmp_path, {}, rotate_s=1, monotonic=clock)
    clock.sleep(10)
    feed.flush()
    feed.close()
    assert len(feed.files) == 1


def test_names_sort_in_the_order_files_were_started() -> None:
    second = 1_800_000_000 * 10**9
    names = [
        feed_name(second, 1),
        feed_name(second, 2),
        feed_name(second + 1_000_000, 3),
        feed_name(second + 10**9, 4),
        feed_name(second + 10 * 10**9, 10),
    ]
    assert names == sorted(names)
    assert names[0] == "feed-20270115T080000.000Z-0001.egfeed"


def test_one_named_file_does_not_rotate(tmp_path: Path) -> None:
    path = tmp_path / "incident.egfeed"
    feed = RotatingFeed(tmp_path, {}, single=path)
    feed.add(1, TOPIC, 1, False, b"", b"a")
    feed.close()
    assert feed.files == [path]
    with pytest.raises(ValueError, match="directory"):
        RotatingFeed(tmp_path, {}, rotate_bytes=10, single=tmp_path / "b.egfeed")
