"""The temporal detector's thresholds, windows and rates, with defaults that suit a field camera."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class DetectorConfig(BaseModel):
    """How the temporal detector judges frames; every field has a sane default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Analysis: frames are shrunk to this width first (cost grows with pixels; the cues need few).
    analysis_width: int = Field(default=320, ge=64, le=1920)
    warmup_s: float = Field(default=2.0, ge=0, description="learn the scene before judging it")

    # Motion gate: a slow background (the scene) and a fast one (what moves now).
    background_tau_s: float = Field(default=20.0, gt=0)
    motion_tau_s: float = Field(default=0.5, gt=0)
    motion_threshold: float = Field(default=6.0, gt=0, description="grey levels")
    motion_min_fraction: float = Field(default=0.002, ge=0, le=1, description="of the cells")

    # Flicker: sign changes of a pixel around its own recent mean, counted over a short window.
    flicker_frames: int = Field(default=16, ge=4, le=64)
    flicker_deadband: float = Field(default=8.0, gt=0, description="grey levels around the mean")
    flicker_mean_tau_s: float = Field(default=0.3, gt=0)
    flicker_min_rate: float = Field(default=2.0, gt=0, description="sign changes per second")
    flicker_full_rate: float = Field(default=5.0, gt=0, description="rate that counts as certain")

    # Flame: self-luminous (brighter than the learned scene), warm by day, very bright on IR.
    flame_min_rise: float = Field(default=30.0, ge=0, description="grey levels over background")
    flame_min_red: int = Field(default=170, ge=0, le=255)
    flame_min_warmth: int = Field(default=60, ge=0, le=255, description="red minus blue")
    flame_ir_min_brightness: int = Field(default=200, ge=0, le=255)
    flame_min_area: float = Field(default=0.0002, gt=0, le=1, description="of the frame")

    # Smoke: a soft, greyish change against the background that rises from a fixed base.
    smoke_min_change: float = Field(default=6.0, gt=0, description="grey levels vs background")
    smoke_max_saturation: int = Field(default=70, ge=0, le=255, description="grey outright")
    smoke_min_desaturation: float = Field(default=20.0, ge=0, description="greyer than the scene")
    smoke_soft_ratio: float = Field(default=0.85, gt=0, description="contrast vs background")
    smoke_soft_floor: float = Field(default=0.06, ge=0, description="contrast that is soft anyway")
    smoke_min_area: float = Field(default=0.002, gt=0, le=1, description="of the frame")
    smoke_max_area: float = Field(default=0.35, gt=0, le=1, description="more is weather")
    smoke_min_age_s: float = Field(default=2.5, ge=0)
    smoke_min_rise: float = Field(default=0.03, gt=0, description="frame heights per second")
    smoke_full_rise: float = Field(default=0.1, gt=0, description="rise that counts as certain")

    # Tracks: regions matched frame to frame by overlap; how still they must stay.
    track_min_overlap: float = Field(default=0.3, gt=0, le=1)
    track_ttl_s: float = Field(default=1.5, gt=0)
    history_s: float = Field(default=4.0, gt=0)
    max_drift: float = Field(default=0.05, gt=0, description="frame widths per second")
    anchor_tolerance: float = Field(default=0.06, gt=0, description="frame widths")

    # Persistence: start after M of the last N analysed frames agree; end after a longer quiet.
    evidence_on: float = Field(default=0.5, gt=0, le=1)
    m: int = Field(default=6, ge=1)
    n: int = Field(default=10, ge=1)
    end_quiet_s: float = Field(default=8.0, gt=0)
    merge_margin: float = Field(default=0.5, ge=0, description="of a box's size, to join incidents")
    merge_reach: float = Field(default=0.1, ge=0, description="frame widths, to join incidents")

    # Updates: only clearly better evidence, and not too often.
    update_min_gain: float = Field(default=0.1, gt=0)
    update_min_interval_s: float = Field(default=10.0, ge=0)

    # Learned verifier: called on candidates only, at most this often; it can veto or confirm.
    scorer_rate_hz: float = Field(default=2.0, gt=0)
    scorer_min_evidence: float = Field(default=0.3, ge=0, le=1)
    scorer_veto: float = Field(default=0.2, ge=0, le=1)
    scorer_weight: float = Field(default=0.4, ge=0, le=1)
    scorer_bypass: float = Field(
        default=0.9, ge=0, le=1, description="temporal evidence that need not wait for a verdict"
    )

    # Snapshots: the best frame as a bounded JPEG.
    snapshot_quality: int = Field(default=80, ge=10, le=100)
    snapshot_max_side: int = Field(default=640, ge=64)

    @model_validator(mode="after")
    def _consistent(self) -> DetectorConfig:
        if self.m > self.n:
            raise ValueError(f"m ({self.m}) must not exceed n ({self.n})")
        if self.flicker_full_rate <= self.flicker_min_rate:
            raise ValueError("flicker_full_rate must exceed flicker_min_rate")
        if self.smoke_full_rise <= self.smoke_min_rise:
            raise ValueError("smoke_full_rise must exceed smoke_min_rise")
        return self
