"""The score and the ranking: pure functions of a unit's counts and the weights.

score = ack_on_time × 按时签收率 + close_on_time × 按时办结率 + self_found × 主动发现占比
        − overdue × 超期率 − false_alarm × 误报率

Rates are fractions (0 … 1), weights are points (defaults 40, 40, 20, 20, 10: a township whose
every case was signed for and closed on time, none overdue and none a false alarm, scores 80,
and up to 100 as the share it found itself grows). A rate with nothing to judge yet (no case
due for acknowledgement, or for closing) earns nothing. A unit without a case in the month has
no score and no rank. Scores are rounded to two decimals; equal scores share a rank (1, 1, 3),
listed by id.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields

SCORE_DECIMALS = 2
MAX_WEIGHT = 1000.0


@dataclass(frozen=True, slots=True)
class Weights:
    """Points each rate is worth; the first three count in favour, the last two against."""

    ack_on_time: float = 40.0
    close_on_time: float = 40.0
    self_found: float = 20.0
    overdue: float = 20.0
    false_alarm: float = 10.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not 0.0 <= value <= MAX_WEIGHT:
                raise ValueError(f"weight {f.name} must be within 0 … {MAX_WEIGHT:g}: {value}")


IN_FAVOUR = ("ack_on_time", "close_on_time", "self_found")
AGAINST = ("overdue", "false_alarm")
# What each rate is called on the desk and in the exports.
RATE_LABELS_ZH = {
    "ack_on_time": "按时签收率",
    "close_on_time": "按时办结率",
    "self_found": "主动发现占比",
    "overdue": "超期率",
    "false_alarm": "误报率",
}


@dataclass(frozen=True, slots=True)
class Figures:
    """One township's or village's month, as counted by the queries (``assessment/sql``).

    ``id`` is None for the sites of a township that lie in no village (乡镇直属).
    """

    id: str | None
    name: str
    cases: int  # raised in the month
    acknowledged: int  # signed for (签收), or claimed
    ack_due: int  # 应签收: acknowledged, or an acknowledge deadline missed before it
    ack_on_time: int  # 按时签收
    closed: int  # 销号
    close_due: int  # 应办结: closed, or a close deadline missed
    close_on_time: int  # 按时办结
    overdue: int  # escalated or marked overdue for a missed deadline
    dismissed: int  # 误报
    self_found: int  # 主动发现 (source 'officer')
    open: int  # neither closed nor dismissed yet
    median_ack_s: float | None  # hand-over → first acknowledgement
    median_close_s: float | None  # raised → closed


@dataclass(frozen=True, slots=True)
class Rates:
    """Fractions 0 … 1; None where there is nothing to divide by."""

    ack_on_time: float | None
    close_on_time: float | None
    self_found: float | None
    overdue: float | None
    false_alarm: float | None


@dataclass(frozen=True, slots=True)
class Assessed:
    """A unit's figures, rates, score and rank (None: no case, or not ranked)."""

    figures: Figures
    rates: Rates
    score: float | None
    rank: int | None


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def rates(f: Figures) -> Rates:
    """The rates of a unit's figures."""
    return Rates(
        ack_on_time=_ratio(f.ack_on_time, f.ack_due),
        close_on_time=_ratio(f.close_on_time, f.close_due),
        self_found=_ratio(f.self_found, f.cases),
        overdue=_ratio(f.overdue, f.cases),
        false_alarm=_ratio(f.dismissed, f.cases),
    )


def score(f: Figures, weights: Weights) -> float | None:
    """The unit's score, rounded to two decimals; None without a case in the month."""
    if f.cases == 0:
        return None
    r = rates(f)
    total = (
        weights.ack_on_time * (r.ack_on_time or 0.0)
        + weights.close_on_time * (r.close_on_time or 0.0)
        + weights.self_found * (r.self_found or 0.0)
        - weights.overdue * (r.overdue or 0.0)
        - weights.false_alarm * (r.false_alarm or 0.0)
    )
    # + 0.0: no "-0.0" for a unit that scored nothing.
    return round(total, SCORE_DECIMALS) + 0.0


def assess(figures: Iterable[Figures], weights: Weights, *, ranked: bool = True) -> list[Assessed]:
    """Each unit scored; ranked (best first, ties sharing a rank, then by id) unless not
    ``ranked``; units without a score come last, by id."""
    scored = [Assessed(f, rates(f), score(f, weights), None) for f in figures]
    if not ranked:
        return sorted(scored, key=_by_id)
    with_score = sorted(
        (a for a in scored if a.score is not None), key=lambda a: (-(a.score or 0.0), _by_id(a))
    )
    out: list[Assessed] = []
    for i, a in enumerate(with_score):
        rank = out[-1].rank if out and out[-1].score == a.score else i + 1
        out.append(Assessed(a.figures, a.rates, a.score, rank))
    return out + sorted((a for a in scored if a.score is None), key=_by_id)


def _by_id(a: Assessed) -> tuple[bool, str]:
    return (a.figures.id is None, a.figures.id or "")


def formula(weights: Weights) -> str:
    """The score's formula with the weights, in Chinese: ``得分 = 40×按时签收率 + …``."""
    text = " + ".join(f"{getattr(weights, k):g}×{RATE_LABELS_ZH[k]}" for k in IN_FAVOUR)
    for k in AGAINST:
        text += f" − {getattr(weights, k):g}×{RATE_LABELS_ZH[k]}"
    return f"得分 = {text}"
