"""The catalogue of clips: burns the detector must find and look-alikes it must ignore."""

from __future__ import annotations

import numpy as np

from envgrid_sim.clips import negatives
from envgrid_sim.clips.clip import Build, Clip, ClipSpec
from envgrid_sim.clips.fire import Burn, flame_line, smoke_plume
from envgrid_sim.clips.layers import Layer
from envgrid_sim.clips.stage import Scene

BURN_CLIP_S = 75.0
IGNITION_S = 15.0
EXTINGUISHED_S = 50.0  # a 35-second burn; the smoke is gone about 10 s later


def _smoke(scene: Scene, rng: np.random.Generator) -> list[Layer]:
    burn = Burn(IGNITION_S, EXTINGUISHED_S)
    plume = smoke_plume(
        scene.stage,
        scene.lighting,
        burn,
        rng,
        base_u=rng.uniform(0.3, 0.6),
        base_v=rng.uniform(0.6, 0.72),
        wind=rng.choice([-1.0, 1.0]),
    )
    return [plume]


def _flame(scene: Scene, rng: np.random.Generator) -> list[Layer]:
    burn = Burn(IGNITION_S, EXTINGUISHED_S)
    start = rng.uniform(0.25, 0.4)
    flames, smoke = flame_line(
        scene.stage,
        scene.lighting,
        burn,
        rng,
        start_u=start,
        end_u=start + rng.uniform(0.25, 0.35),
        base_v=rng.uniform(0.62, 0.7),
        wind=rng.choice([-1.0, 1.0]),
    )
    return [smoke, flames]


def _quiet(scene: Scene, rng: np.random.Generator) -> list[Layer]:
    return []


def _burn(name: str, description: str, lighting: str, build: Build) -> ClipSpec:
    return ClipSpec(name, description, lighting, BURN_CLIP_S, build, IGNITION_S, EXTINGUISHED_S)


def _negative(
    name: str, description: str, lighting: str, build: Build, duration_s: float = 60.0
) -> ClipSpec:
    return ClipSpec(name, description, lighting, duration_s, build)


CLIPS: dict[str, ClipSpec] = {
    spec.name: spec
    for spec in (
        _burn("burn-smoke-day", "a smoke plume grows from one spot of stubble, day", "day", _smoke),
        _burn(
            "burn-smoke-dusk", "a smoke plume grows from one spot of stubble, dusk", "dusk", _smoke
        ),
        _burn("burn-smoke-night-ir", "a smoke plume at night, infrared camera", "night-ir", _smoke),
        _burn(
            "burn-flame-day", "a flickering flame front spreads along a furrow, day", "day", _flame
        ),
        _burn(
            "burn-flame-dusk",
            "a flickering flame front spreads along a furrow, dusk",
            "dusk",
            _flame,
        ),
        _burn("burn-flame-night-ir", "a flame front at night, infrared camera", "night-ir", _flame),
        _negative("quiet-day", "the field with nothing happening, day", "day", _quiet),
        _negative("quiet-dusk", "the field with nothing happening, dusk", "dusk", _quiet),
        _negative("quiet-night-ir", "the field at night, infrared camera", "night-ir", _quiet),
        _negative("neg-clouds", "white clouds drift across the sky", "day", negatives.clouds),
        _negative("neg-shadows", "cloud shadows sweep over the field", "day", negatives.shadows),
        _negative(
            "neg-headlights-dusk",
            "vehicles with bright headlamps cross at dusk",
            "dusk",
            negatives.headlights,
        ),
        _negative(
            "neg-headlights-night-ir",
            "vehicles with headlamps cross at night, infrared camera",
            "night-ir",
            negatives.headlights,
        ),
        _negative(
            "neg-red-vehicle", "a red lorry passes along the road", "day", negatives.red_vehicle
        ),
        _negative("neg-fog", "fog rolls in over the field", "day", negatives.fog),
        _negative(
            "neg-tractor-dust",
            "a tractor crosses the field raising brown dust",
            "day",
            negatives.tractor_dust,
        ),
        _negative(
            "neg-sunset", "the sun sets in an orange and red sky", "sunset", negatives.sunset, 75.0
        ),
    )
}


def render(
    name: str,
    *,
    seed: int = 0,
    size: tuple[int, int] = (640, 480),
    fps: float = 10.0,
    scene: str | None = None,
) -> Clip:
    """Clip ``name`` at ``size`` (width, height) and ``fps``; frames are drawn when asked for.

    Each clip has a field of its own unless ``scene`` names one to share: clips rendered with
    the same ``scene``, seed, size and light show the same field, as one camera would.
    """
    if name not in CLIPS:
        raise KeyError(f"no clip {name!r}; choose from {', '.join(CLIPS)}")
    return Clip(CLIPS[name], seed=seed, size=size, fps=fps, scene=scene)
