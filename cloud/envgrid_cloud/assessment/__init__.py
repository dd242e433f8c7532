"""The monthly assessment (考评) of townships, and of the villages inside one.

Which cases count: those of the township (``cases.township_id``, the township of the site; a
case a township was only told of downstream is not theirs) raised within the month, a calendar
month on Shanghai's clock (``2026-05``: from 1 May 00:00 to 1 June 00:00 +08:00). Each is
followed to today: a case raised on 31 May and closed on 3 June counts for May, closed, so a
month's figures still change while its cases are open. Inside a township a case belongs to the
village of its site's cell (the cell itself, or the village above a villager group); sites of
the township's own cell make a row of their own (乡镇直属), shown but not ranked.

Per unit and month, from each case's file (``case_events``; the view ``case_assessment`` of
migration 0010 holds the per-case facts):

- **cases** 案件数: raised in the month.
- **acknowledged** 已签收: signed for: the first ``acknowledge`` event, or a ``claim`` (an
  officer takes a case nobody was found for, and signs for it at once).
- **time to acknowledge** 签收用时: from the first hand-over (automatic ``dispatched``, a
  reviewer's ``dispatch``, or an escalation of a case still raised) to the first
  acknowledgement; from raising for a case claimed before any hand-over. Median over the
  acknowledged cases.
- **due for acknowledgement** 应签收: acknowledged, or an acknowledge deadline missed before it
  (an ``escalated`` or ``overdue`` event with reason ``not_acknowledged``). A case still inside
  its deadline, or dismissed before one passed, is not judged yet.
- **acknowledged on time** 按时签收: acknowledged, with no acknowledge deadline missed before,
  and no later than the deadline then in force: the ``ack_due_at`` recorded by the last
  hand-over before it (``dispatched``, ``dispatch``, ``reassign``: a reassignment gives the new
  officer the full time). The case's own ``ack_due_at`` is not used: escalation and
  reassignment restart it. Rate: on time ÷ due.
- **closed** 已销号, **time to close** 办结用时: raised → closed (销号); median over closed cases.
  Dismissed cases are not closed.
- **due for closing** 应办结: closed, or a close deadline missed (``escalated``/``overdue`` for
  ``not_closed``). **Closed on time** 按时办结: closed, no close deadline missed, and
  ``closed_at`` ≤ ``close_due_at``. Rate: on time ÷ due.
- **overdue** 超期: cases escalated, or marked overdue at the top of the grid, for any missed
  deadline (at least one ``escalated`` or ``overdue`` event). Rate: ÷ cases.
- **false alarms** 误报: cases dismissed (state ``dismissed``, with the reviewer's reason).
  Rate: ÷ cases.
- **found by officers** 主动发现: cases an officer reported (source ``officer``); they count in
  the unit's favour. Share: ÷ cases.
- **open** 未结: neither closed nor dismissed yet.

Score (``score.py``, weights set by an administrator, shown with every result):

    得分 = 40×按时签收率 + 40×按时办结率 + 20×主动发现占比 − 20×超期率 − 10×误报率

(the shipped weights; rates as fractions). A rate with nothing to judge earns nothing; a unit
with no case has no score and no rank. Ranked by score, best first; scores rounded to two
decimals, equal scores share a rank (1, 1, 3), listed by id.

Who sees what: the townships of one's area (an administrator: all, or one county's); a
township's breakdown for a township in one's area or above one's cell, holding the villages of
one's area (a village officer: their village's row only, without the township's total).

Entry points: :func:`township_report`, :func:`village_report`, :func:`current_weights`,
:func:`save_weights`; :func:`to_csv`, :func:`to_xlsx` and :func:`filename` for the files.
"""

from envgrid_cloud.assessment.export import filename, title, to_csv, to_xlsx
from envgrid_cloud.assessment.month import Month
from envgrid_cloud.assessment.report import (
    Report,
    StoredWeights,
    UnknownTownship,
    current_weights,
    save_weights,
    township_report,
    village_report,
)
from envgrid_cloud.assessment.score import Assessed, Figures, Rates, Weights, formula

__all__ = [
    "Assessed",
    "Figures",
    "Month",
    "Rates",
    "Report",
    "StoredWeights",
    "UnknownTownship",
    "Weights",
    "current_weights",
    "filename",
    "formula",
    "save_weights",
    "title",
    "to_csv",
    "to_xlsx",
    "township_report",
    "village_report",
]
