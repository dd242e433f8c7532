"""Camera snapshots as the API lists them (the JPEG itself is fetched at ``url``)."""

from __future__ import annotations

from pydantic import Field

from envgrid_cloud.api.models.common import Out, ShanghaiTime


class SnapshotOut(Out):
    """The best snapshot a camera sent of one incident: fetch the JPEG at ``url``."""

    node_id: str
    event_id: str = Field(description="The incident's event id, as in its detections")
    size: int = Field(description="Bytes of the JPEG")
    received_at: ShanghaiTime = Field(description="When this version reached the cloud")
    versions: int = Field(description="How many versions were sent (a better one replaces)")
    url: str = Field(description="The JPEG (image/jpeg), for whoever may see the case")
