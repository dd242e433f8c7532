"""Password hashing with Argon2id (argon2-cffi); the cost is measured in the README."""

from __future__ import annotations

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# RFC 9106's second recommended option scaled to a township server: 64 MiB, 3 passes, 2 lanes.
# On the 2-core development VM a login takes p50 99 ms, p99 241 ms, 91 ms of it the verify
# (README, bench/api.py): slow enough to make stolen hashes expensive to crack, fast enough for
# a person at a login form.
TIME_COST = 3
MEMORY_COST_KIB = 64 * 1024
PARALLELISM = 2
MIN_LENGTH = 8
MAX_LENGTH = 256

_HASHER = PasswordHasher(
    time_cost=TIME_COST,
    memory_cost=MEMORY_COST_KIB,
    parallelism=PARALLELISM,
    type=Type.ID,
)
# Verified when a login names nobody, so that such a login takes as long as a real one.
_DUMMY = _HASHER.hash("not a password of anyone")


class WeakPassword(ValueError):
    """A password that may not be set."""


def check_strength(password: str) -> None:
    """Refuse a password too short, too long, or made of blanks."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"a password has at most {MAX_LENGTH} characters")
    if not password.strip():
        raise WeakPassword("a password cannot be only blanks")


def hash_password(password: str) -> str:
    """The Argon2id hash to store (salt and parameters included)."""
    check_strength(password)
    return _HASHER.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored``; with nothing stored, spend the same time anyway."""
    try:
        return _HASHER.verify(stored or _DUMMY, password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """Whether ``stored`` was made with other parameters than today's (rehash on login)."""
    try:
        return _HASHER.check_needs_rehash(stored)
    except InvalidHashError:
        return True
