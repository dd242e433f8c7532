"""Cases (一案一档) as the API shows them, and the moves and reports it takes."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from envgrid_cloud.api.models.common import In, Out, ShanghaiTime
from envgrid_cloud.api.models.snapshots import SnapshotOut
from envgrid_cloud.cases.attachments import MAX_ATTACHMENTS, MAX_BYTES, NAME_MAX
from envgrid_cloud.cases.model import Action, CaseState, Severity
from envgrid_cloud.cases.transitions import REASON_MAX
from envgrid_common.messages import FiniteFloat, Identifier
from envgrid_common.messages import MetricName as KnownMetric
from envgrid_common.metrics import METRICS
from envgrid_common.registry import CONTROLS, TEXT_CONTROLS, visible_pattern

# Notes on a step: several lines, no other control characters; may be empty.
Notes = Annotated[str, Field(max_length=4000, pattern=rf"^[^{TEXT_CONTROLS}]*$")]
Reason = Annotated[str, Field(max_length=REASON_MAX, pattern=rf"^[^{TEXT_CONTROLS}]*$")]
MetricName = Annotated[
    KnownMetric,
    Field(description="A metric of the catalogue", json_schema_extra={"enum": [*METRICS]}),
]
# An http(s) link: printable, without blanks.
URL_PATTERN = rf"^https?://[^\s{CONTROLS}]+$"
# A media type as a Content-Type header carries it: ASCII only.
CONTENT_TYPE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.+-]*/[A-Za-z0-9_.+-]+$"
# Canonical base64; at most MAX_BYTES once decoded (4 characters carry 3 bytes).
BASE64_PATTERN = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
BASE64_MAX = MAX_BYTES // 3 * 4


class Case(Out):
    """A problem at a site, and where it stands in the closed loop (闭环)."""

    id: int
    site_id: str
    rule_id: str = Field(description="The rule that raised it; 'officer:<id>' if found by one")
    township_id: str = Field(description="The township the site lies in (所属乡镇)")
    node_id: str | None
    metric: str | None
    severity: Severity
    state: CaseState = Field(
        description="raised · dispatched 交办 · acknowledged 签收 · inspecting 现场核查 · "
        "rectifying 整改 · reported 上报 · closed 销号 · dismissed 误报"
    )
    title: str
    detail: dict[str, Any] = Field(description="What the rule saw (limit, standard, …)")
    source: str = Field(description="'rule', or 'officer' when found on the spot (主动发现)")
    first_seen_at: ShanghaiTime = Field(description="Source time of the first breach")
    last_seen_at: ShanghaiTime = Field(description="Source time of the latest breach")
    raised_at: ShanghaiTime
    occurrences: int = Field(description="Breaches counted on this case")
    first_value: float | None
    last_value: float | None
    peak_value: float | None = Field(description="The worst value (lowest for a 'below' rule)")
    cleared_at: ShanghaiTime | None = Field(
        description="When the condition cleared (the case stays open until a person closes it)"
    )
    assignee_id: str | None = Field(description="The officer who has the case")
    assigned_cell_id: str | None
    escalation_level: int = Field(description="Levels it climbed for missed deadlines")
    ack_due_at: ShanghaiTime | None = Field(description="Acknowledge by (签收时限)")
    close_due_at: ShanghaiTime | None = Field(description="Close by (办结时限)")
    closed_at: ShanghaiTime | None = Field(description="When it was closed or dismissed")
    updated_at: ShanghaiTime


class Cases(Out):
    """Cases, newest first."""

    count: int = Field(description="Cases matching the filters (all, not only these)")
    items: list[Case]


class AttachmentOut(Out):
    """A file kept with a step; fetch it at ``url``."""

    name: str
    content_type: str
    size: int | None = Field(description="Bytes, for a file uploaded with the step")
    url: str = Field(description="Where to fetch it: the API's own path, or the link given")


class CaseEvent(Out):
    """One step of a case: who, when, what."""

    id: int
    at: ShanghaiTime
    actor: str = Field(description="An officer id, or 'system'")
    action: str = Field(
        description="raised, dispatched, an action, condition_cleared, recurred, "
        "severity_raised, escalated, overdue, notified_downstream"
    )
    from_state: CaseState | None
    to_state: CaseState | None
    notes: str | None
    attachments: list[AttachmentOut]
    detail: dict[str, Any]


class CaseNotification(Out):
    """A township told of a case that is not its own (downstream, 上下游联防联控)."""

    township_id: str
    reason: str
    at: ShanghaiTime


class CaseReading(Out):
    """A reading of the case's node (or site) around the case."""

    node_id: str
    ts: ShanghaiTime
    seq: int
    values: dict[str, Any]
    flags: dict[str, Any] | None
    historical: bool


class CaseFile(Out):
    """The case file (一案一档): the case, every step, who was told, the readings around it,
    the camera snapshots of its incidents."""

    case: Case
    events: list[CaseEvent]
    notifications: list[CaseNotification]
    snapshots: list[SnapshotOut] = Field(
        default_factory=list, description="Camera snapshots of the case's incidents, oldest first"
    )
    readings_start: ShanghaiTime
    readings_end: ShanghaiTime
    readings: list[CaseReading] = Field(description="Oldest first, at most `readings_limit`")
    readings_limit: int
    readings_truncated: bool


class _Attachment(In):
    name: str = Field(
        min_length=1, max_length=NAME_MAX, pattern=visible_pattern(), examples=["现场照片.jpg"]
    )
    content_type: str = Field(pattern=CONTENT_TYPE_PATTERN, examples=["image/jpeg"])


class AttachmentLink(_Attachment):
    """A photo or document kept elsewhere, linked by URL."""

    url: str = Field(max_length=2000, pattern=URL_PATTERN, description="http(s) link to the file")


class AttachmentUpload(_Attachment):
    """A photo or document uploaded with the step."""

    data_base64: str = Field(
        max_length=BASE64_MAX,
        pattern=BASE64_PATTERN,
        description=f"The file itself, base64, at most {BASE64_MAX // 4 * 3} bytes decoded",
    )


AttachmentIn = AttachmentLink | AttachmentUpload


class CaseActionRequest(In):
    """A move on a case, made by the signed-in user (or the owner of the token)."""

    action: Action
    notes: Notes | None = None
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)
    reason: Reason | None = Field(default=None, description="Why (required to dismiss)")
    assignee_id: Identifier | None = Field(
        default=None,
        description="To whom (reassign: required; dispatch: default the site's grid officer)",
    )


class NewCaseRequest(In):
    """A problem the signed-in officer found on the spot (主动发现)."""

    site_id: Identifier
    title: str = Field(min_length=1, max_length=200, pattern=visible_pattern())
    severity: Severity = Severity.MEDIUM
    notes: Notes | None = None
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)
    node_id: Identifier | None = Field(default=None, description="A node of the site")
    metric: MetricName | None = None
    value: Annotated[FiniteFloat, Field(strict=True)] | None = None
