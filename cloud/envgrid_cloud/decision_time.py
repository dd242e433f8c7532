"""When the cloud's decisions are dated: at the data's own time, so a replay dates them alike.

A case raised by a reading is raised at the reading's source time, a node is last heard at its
reading's source time, a no-data case at the instant the node became overdue and an escalation
at the deadline it missed. None of these is the moment the cloud happened to look (the batch it
was in, the sweep that noticed), so the live run and any replay of its feed date every decision
to the same microsecond. Data out by more than ``GRACE`` from the clock — a backlog arriving
late, a node whose clock is far off, a sweep that did not run for a while — is dated when the
cloud learnt of it instead: deadlines then run from when people could know, not from the past.
"""

from __future__ import annotations

from datetime import datetime, timedelta

GRACE = timedelta(minutes=10)
"""How far from the clock a data time may be and still date a decision."""


def decided_at(data_time: datetime, now: datetime) -> datetime:
    """The time of a decision on data of ``data_time`` taken at ``now`` (see the module)."""
    return data_time if abs(now - data_time) <= GRACE else now
