"""What a virtual camera shows over time: one clip looping, or quiet scenes then a burn, looping."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from envgrid_sim.clips import CLIPS, Clip, render
from envgrid_sim.clips.noise import Image


@dataclass(frozen=True, slots=True)
class Segment:
    """Seconds ``start_s`` to ``start_s + length_s`` of one clip."""

    clip: Clip
    start_s: float
    length_s: float


@dataclass(frozen=True, slots=True)
class Fire:
    """When a burn shows in the feed, in seconds of one pass of its schedule."""

    clip: str
    ignition_s: float
    extinguished_s: float


class Schedule:
    """Segments of clips played one after another, the whole repeating forever, or played once
    and followed by schedule ``then`` (which repeats)."""

    def __init__(self, segments: Sequence[Segment], then: Schedule | None = None) -> None:
        if not segments or any(s.length_s <= 0 for s in segments):
            raise ValueError("a schedule needs segments of positive length")
        self.segments = tuple(segments)
        self.then = then
        self.period_s = sum(s.length_s for s in segments)
        self.fps = segments[0].clip.fps
        self.size = segments[0].clip.size

    def frame_at(self, t: float) -> Image:
        """What the camera shows ``t`` seconds after it started."""
        if self.then is not None and t >= self.period_s:
            return self.then.frame_at(t - self.period_s)
        local = t % self.period_s
        for segment in self.segments:
            if local < segment.length_s:
                return segment.clip.frame_at(segment.start_s + local)
            local -= segment.length_s
        last = self.segments[-1]
        return last.clip.frame_at(last.start_s + last.length_s)

    @property
    def fires(self) -> list[Fire]:
        """Every burn in one pass, with its times in the schedule."""
        found, offset = [], 0.0
        for segment in self.segments:
            clip = segment.clip
            if clip.ignition_s is not None and clip.extinguished_s is not None:
                found.append(
                    Fire(
                        clip.name,
                        offset + clip.ignition_s - segment.start_s,
                        offset + clip.extinguished_s - segment.start_s,
                    )
                )
            offset += segment.length_s
        return found

    def describe(self) -> str:
        """One line: the segments in order and when fires burn."""
        parts = [f"{s.clip.name} {s.length_s:g} s" for s in self.segments]
        fires = [f"fire {f.ignition_s:g}–{f.extinguished_s:g} s" for f in self.fires]
        after = (
            f"looping every {self.period_s:g} s"
            if self.then is None
            else f"then {self.then.describe()}"
        )
        burning = f" ({'; '.join(fires)})" if fires else ""
        return f"{' → '.join(parts)}{burning}, {after}"


def looping(
    name: str, *, seed: int = 0, size: tuple[int, int] = (640, 480), fps: float = 10.0
) -> Schedule:
    """One clip, from start to end, again and again."""
    clip = render(name, seed=seed, size=size, fps=fps)
    return Schedule([Segment(clip, 0.0, clip.duration_s)])


def _check_names(names: Sequence[str]) -> None:
    for name in names:
        if name not in CLIPS:
            raise ValueError(f"no clip {name!r}; choose from {', '.join(CLIPS)}")


def background(
    names: Sequence[str],
    *,
    seed: int = 0,
    size: tuple[int, int] = (640, 480),
    fps: float = 10.0,
    scene: str = "camera",
) -> Schedule:
    """Clips ``names`` in turn, each to its end, in one field, looping."""
    if not names:
        raise ValueError("a background needs at least one clip")
    _check_names(names)
    return Schedule(
        [
            Segment(clip, 0.0, clip.duration_s)
            for clip in (render(name, seed=seed, size=size, fps=fps, scene=scene) for name in names)
        ]
    )


def burn_at(
    burn_at_s: float,
    *,
    burn: str = "burn-smoke-day",
    background: Sequence[str] = (),
    seed: int = 0,
    size: tuple[int, int] = (640, 480),
    fps: float = 10.0,
    scene: str = "camera",
    repeat: bool = True,
) -> Schedule:
    """Quiet scenes (or look-alikes) until a burn ignites ``burn_at_s`` seconds in, then the burn
    to its end; all in one field. The whole loops, or with ``repeat=False`` the background
    alone loops after the one burn.

    ``background`` defaults to the quiet field under the burn's light.
    """
    spec = CLIPS.get(burn)
    if spec is None or spec.ignition_s is None:
        burns = ", ".join(n for n, s in CLIPS.items() if s.burn)
        raise ValueError(f"{burn!r} is not a burn clip; choose from {burns}")
    if burn_at_s < 0:
        raise ValueError("the burn cannot start before the camera does")
    names = list(background) or [f"quiet-{spec.lighting}"]
    _check_names(names)

    def clip(name: str) -> Clip:
        return render(name, seed=seed, size=size, fps=fps, scene=scene)

    fire = clip(burn)
    ignition = spec.ignition_s
    # The burn clip begins quiet; the background fills whatever comes before that.
    lead = burn_at_s - ignition
    segments: list[Segment] = []
    if lead > 0:
        backgrounds = [clip(name) for name in names]
        left, turn = lead, 0
        while left > 1e-9:
            shown = backgrounds[turn % len(backgrounds)]
            length = min(left, shown.duration_s)
            segments.append(Segment(shown, 0.0, length))
            left -= length
            turn += 1
    start = max(0.0, -lead)
    segments.append(Segment(fire, start, fire.duration_s - start))
    if repeat:
        return Schedule(segments)
    backgrounds = [clip(name) for name in names]
    return Schedule(segments, Schedule([Segment(c, 0.0, c.duration_s) for c in backgrounds]))
