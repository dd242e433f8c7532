"""Monthly assessment (考评) as the API shows it, and its weights."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from envgrid_cloud.api.models.common import Out, ShanghaiTime
from envgrid_cloud.assessment import Assessed, Report, StoredWeights, Weights, formula
from envgrid_cloud.assessment.score import MAX_WEIGHT

Weight = Annotated[
    float,
    # Strict: true and false are not numbers here.
    Field(strict=True, ge=0, le=MAX_WEIGHT, allow_inf_nan=False, description="Points (0 … 1000)"),
]
Rate = Annotated[float | None, Field(ge=0, le=1, description="0 … 1; null: nothing to judge")]


class AssessmentWeightsIn(BaseModel):
    """The points each rate is worth: the first three are added, the last two subtracted."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ack_on_time: Weight = Field(description="× 按时签收率 (added)")
    close_on_time: Weight = Field(description="× 按时办结率 (added)")
    self_found: Weight = Field(description="× 主动发现占比 (added)")
    overdue: Weight = Field(description="× 超期率 (subtracted)")
    false_alarm: Weight = Field(description="× 误报率 (subtracted)")

    def weights(self) -> Weights:
        """As the score takes them."""
        return Weights(**self.model_dump())


class AssessmentWeights(Out):
    """The weights in force, the formula they make, and who set them when."""

    ack_on_time: float = Field(description="× 按时签收率 (added)")
    close_on_time: float = Field(description="× 按时办结率 (added)")
    self_found: float = Field(description="× 主动发现占比 (added)")
    overdue: float = Field(description="× 超期率 (subtracted)")
    false_alarm: float = Field(description="× 误报率 (subtracted)")
    formula: str = Field(description="The score with these weights, in Chinese")
    updated_at: ShanghaiTime
    updated_by: str | None = Field(description="Who set them; null: the shipped defaults")

    @classmethod
    def of(cls, stored: StoredWeights) -> AssessmentWeights:
        """From what the store returned."""
        w = stored.weights
        return cls(
            ack_on_time=w.ack_on_time,
            close_on_time=w.close_on_time,
            self_found=w.self_found,
            overdue=w.overdue,
            false_alarm=w.false_alarm,
            formula=formula(w),
            updated_at=stored.updated_at,
            updated_by=stored.updated_by,
        )


class AssessmentRow(Out):
    """One township's or village's month: counts, rates, medians, score and rank."""

    rank: int | None = Field(description="1 = best; equal scores share a rank; null: unranked")
    id: str | None = Field(description="The cell; null: the township's own sites (乡镇直属)")
    name: str
    cases: int = Field(description="案件数: raised in the month")
    acknowledged: int = Field(description="已签收")
    ack_due: int = Field(description="应签收: acknowledged, or a deadline to do so missed")
    ack_on_time: int = Field(description="按时签收")
    ack_on_time_rate: Rate
    median_ack_s: float | None = Field(description="签收用时中位数, seconds from hand-over")
    closed: int = Field(description="已销号")
    close_due: int = Field(description="应办结: closed, or a deadline to close missed")
    close_on_time: int = Field(description="按时办结")
    close_on_time_rate: Rate
    median_close_s: float | None = Field(description="办结用时中位数, seconds from raising")
    overdue: int = Field(description="超期: escalated or marked overdue")
    overdue_rate: Rate
    dismissed: int = Field(description="误报: dismissed as a false alarm")
    false_alarm_rate: Rate
    self_found: int = Field(description="主动发现: reported by an officer")
    self_found_share: Rate
    open: int = Field(description="未结: neither closed nor dismissed")
    score: float | None = Field(description="得分; null: no case in the month")

    @classmethod
    def of(cls, a: Assessed) -> AssessmentRow:
        """From a scored unit."""
        f, r = a.figures, a.rates
        return cls(
            rank=a.rank,
            id=f.id,
            name=f.name,
            cases=f.cases,
            acknowledged=f.acknowledged,
            ack_due=f.ack_due,
            ack_on_time=f.ack_on_time,
            ack_on_time_rate=r.ack_on_time,
            median_ack_s=f.median_ack_s,
            closed=f.closed,
            close_due=f.close_due,
            close_on_time=f.close_on_time,
            close_on_time_rate=r.close_on_time,
            median_close_s=f.median_close_s,
            overdue=f.overdue,
            overdue_rate=r.overdue,
            dismissed=f.dismissed,
            false_alarm_rate=r.false_alarm,
            self_found=f.self_found,
            self_found_share=r.self_found,
            open=f.open,
            score=a.score,
        )


class AssessmentTownship(Out):
    """The township broken down."""

    id: str
    name: str


class Assessment(Out):
    """One month's assessment: townships ranked, or the villages of one township."""

    month: str = Field(examples=["2026-05"])
    level: Literal["township", "village"]
    start: ShanghaiTime = Field(description="The month's start (inclusive), Shanghai time")
    end: ShanghaiTime = Field(description="The month's end (exclusive)")
    generated_at: ShanghaiTime = Field(description="Figures as of (cases are followed to date)")
    weights: AssessmentWeights
    township: AssessmentTownship | None = Field(description="Village level: the township")
    total: AssessmentRow | None = Field(
        description="Village level: the township's own row, if you see the whole township"
    )
    rows: list[AssessmentRow]

    @classmethod
    def of(cls, report: Report) -> Assessment:
        """From a report."""
        return cls(
            month=str(report.month),
            level=report.level,
            start=report.month.start,
            end=report.month.end,
            generated_at=report.generated_at,
            weights=AssessmentWeights.of(report.weights),
            township=(
                AssessmentTownship(id=report.township.id, name=report.township.name)
                if report.township
                else None
            ),
            total=AssessmentRow.of(report.total) if report.total else None,
            rows=[AssessmentRow.of(a) for a in report.rows],
        )
