"""Reading feed files: blocks checked one by one, a torn tail dropped and reported."""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from envgrid_sim.feeds.format import (
    BLOCK_HEAD,
    BLOCK_MAGIC,
    CODEC_NONE,
    CODEC_ZLIB,
    FILE_HEAD,
    FORMAT_VERSION,
    MAGIC,
    SUFFIX,
    FeedError,
    FeedRecord,
    decode_records,
)


@dataclass(frozen=True, slots=True)
class Block:
    """A block's header and where its stored bytes are."""

    offset: int  # of the stored bytes
    codec: int
    stored: int
    raw: int
    crc: int
    count: int
    first_ns: int
    last_ns: int


@dataclass(frozen=True, slots=True)
class TornTail:
    """The end of a file that holds no whole block (a writer killed mid-block, or damage)."""

    path: Path
    offset: int
    skipped_bytes: int
    reason: str

    def __str__(self) -> str:
        return (
            f"{self.path}: torn tail at byte {self.offset:,} ({self.reason}): "
            f"{self.skipped_bytes:,} byte(s) skipped; every record before it is kept"
        )


class FeedReader:
    """One feed file: its metadata, its blocks, its records.

    After reading to the end, :attr:`tail` says whether (and why) the file ended in a torn
    block; the records before it are all read.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.tail: TornTail | None = None
        self.size = path.stat().st_size
        with path.open("rb") as file:
            try:
                self.meta, self._data_at = _read_header(file, path)
            except _HeaderCutShort:
                # Killed between creating the file and writing its header: an empty feed.
                self.meta, self._data_at = {}, self.size
                self._torn(0, "header cut short")
        self._header_tail = self.tail

    @property
    def version(self) -> int:
        """The format version the file was written in."""
        return int(self.meta.get("format", 0))

    def blocks(self) -> Iterator[Block]:
        """Every whole block, in order, from the headers alone (contents not checked)."""
        with self.path.open("rb") as file:
            yield from self._blocks(file)

    def count(self) -> int:
        """Records in the file's whole blocks."""
        return sum(block.count for block in self.blocks())

    def records(self, start: int = 0) -> Iterator[FeedRecord]:
        """The records from index ``start`` on (whole blocks before it are skipped unread)."""
        with self.path.open("rb") as file:
            for block in self._blocks(file):
                if start >= block.count:
                    start -= block.count
                    continue
                file.seek(block.offset)
                raw = self._contents(block, file.read(block.stored))
                if raw is None:
                    return
                records = decode_records(raw)
                if len(records) != block.count:
                    self._torn(block.offset, "record count differs from the block header")
                    return
                yield from records[start:] if start else records
                start = 0

    def _blocks(self, file: BinaryIO) -> Iterator[Block]:
        self.tail = self._header_tail
        offset = self._data_at
        size = self.size
        while offset < size:
            file.seek(offset)
            head = file.read(BLOCK_HEAD.size)
            if len(head) < BLOCK_HEAD.size:
                self._torn(offset, "block header cut short")
                return
            magic, codec, stored, raw, crc, count, first_ns, last_ns = BLOCK_HEAD.unpack(head)
            if magic != BLOCK_MAGIC or codec not in (CODEC_NONE, CODEC_ZLIB):
                self._torn(offset, "no block header here")
                return
            start = offset + BLOCK_HEAD.size
            if start + stored > size:
                self._torn(offset, "block cut short")
                return
            yield Block(start, codec, stored, raw, crc, count, first_ns, last_ns)
            offset = start + stored

    def _contents(self, block: Block, stored: bytes) -> bytes | None:
        """A block's raw records, or None (and the tail noted) if they do not check out."""
        try:
            raw = zlib.decompress(stored) if block.codec == CODEC_ZLIB else stored
        except zlib.error:
            self._torn(block.offset - BLOCK_HEAD.size, "block does not decompress")
            return None
        if len(raw) != block.raw or zlib.crc32(raw) != block.crc:
            self._torn(block.offset - BLOCK_HEAD.size, "block checksum differs")
            return None
        return raw

    def _torn(self, offset: int, reason: str) -> None:
        self.tail = TornTail(self.path, offset, self.size - offset, reason)


class _HeaderCutShort(FeedError):
    """The file ends inside its header."""


def _read_header(file: BinaryIO, path: Path) -> tuple[dict[str, Any], int]:
    """The metadata, and where the first block starts."""
    magic = file.read(len(MAGIC))
    if magic != MAGIC:
        if MAGIC.startswith(magic):
            raise _HeaderCutShort(f"{path}: header cut short")
        raise FeedError(f"{path}: not an envgrid feed file")
    head = file.read(FILE_HEAD.size)
    if len(head) < FILE_HEAD.size:
        raise _HeaderCutShort(f"{path}: header cut short")
    version, meta_len = FILE_HEAD.unpack(head)
    if version > FORMAT_VERSION:
        raise FeedError(
            f"{path}: feed format {version}, newer than this envgrid reads ({FORMAT_VERSION})"
        )
    body = file.read(meta_len)
    if len(body) < meta_len:
        raise _HeaderCutShort(f"{path}: header cut short")
    meta = orjson.loads(body)
    if not isinstance(meta, dict):
        raise FeedError(f"{path}: header metadata is not a JSON object")
    return meta, len(MAGIC) + FILE_HEAD.size + meta_len


def feed_files(paths: Iterable[Path]) -> list[Path]:
    """The files to read, in order: files as given, a directory's feed files sorted by name."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(path.glob(f"*{SUFFIX}"))
            if not found:
                raise FeedError(f"{path}: no *{SUFFIX} files in this directory")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise FeedError(f"{path}: no such file or directory")
    return files
