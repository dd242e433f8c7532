"""Uploads a station has yet to get through: sent again until answered, oldest first, bounded.

A real 数采仪 keeps what the platform has not confirmed (9014) and sends it when the link is
back (补传), so after an outage its backlog arrives late. Answers are matched by QN.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass(slots=True)
class Upload:
    """One upload: its packets (several when split) and the QN its answer will carry."""

    key: str
    cn: str
    packets: tuple[bytes, ...]
    wants_answer: bool
    attempts: int = 0
    due: float = 0.0  # monotonic seconds; 0: send as soon as connected


class Backlog:
    """Uploads not yet sent or not yet answered, in the order they were made.

    ``answer_timeout_s`` and ``retries`` are 表 1's (10 s, 3 retries over a mobile link); an
    upload still unanswered after its retries waits ``retry_later_s`` and goes round again
    (it is kept, not dropped). At most ``max_uploads`` are held: the oldest goes first.
    """

    def __init__(
        self,
        *,
        answer_timeout_s: float = 10.0,
        retries: int = 3,
        retry_later_s: float = 60.0,
        max_uploads: int = 10_000,
    ) -> None:
        self.answer_timeout_s = answer_timeout_s
        self.retries = retries
        self.retry_later_s = retry_later_s
        self.max_uploads = max_uploads
        self._uploads: OrderedDict[str, Upload] = OrderedDict()
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._uploads)

    def add(self, upload: Upload) -> None:
        """Queue an upload to send (after everything older)."""
        while len(self._uploads) >= self.max_uploads:
            self._uploads.popitem(last=False)
            self.dropped += 1
        self._uploads[upload.key] = upload

    def due(self, now: float) -> list[Upload]:
        """Uploads to send now, oldest first."""
        return [u for u in self._uploads.values() if u.due <= now]

    def sent(self, upload: Upload, now: float) -> None:
        """``upload`` went out: forget it if no answer is wanted, else wait for one."""
        upload.attempts += 1
        if not upload.wants_answer:
            self._uploads.pop(upload.key, None)
            return
        # Retries every answer_timeout_s; then a longer pause before the next round.
        late = upload.attempts % (self.retries + 1) == 0
        upload.due = now + (self.retry_later_s if late else self.answer_timeout_s)

    def answered(self, key: str) -> Upload | None:
        """An answer for ``key`` (the QN) came: the upload is done (None if not held)."""
        return self._uploads.pop(key, None)

    def reconnected(self) -> None:
        """The link is back: everything unanswered is due at once (sent oldest first)."""
        for upload in self._uploads.values():
            upload.due = 0.0

    def next_due(self) -> float | None:
        """When the earliest upload falls due, or None if nothing is held."""
        return min((u.due for u in self._uploads.values()), default=None)
