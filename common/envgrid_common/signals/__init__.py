"""Virtual sensor signals and the site profiles that shape them, for the simulator and the edge."""

from __future__ import annotations

from envgrid_common.signals.cycles import Bump, DailyCycle, Sawtooth, local_hour
from envgrid_common.signals.generator import DRIFT_CLIP, NOISE_CLIP, NodeSignals
from envgrid_common.signals.metric import Incident, MetricSignal
from envgrid_common.signals.profiles import CATEGORY_PROFILES, PROFILES, Profile

__all__ = [
    "CATEGORY_PROFILES",
    "DRIFT_CLIP",
    "NOISE_CLIP",
    "PROFILES",
    "Bump",
    "DailyCycle",
    "Incident",
    "MetricSignal",
    "NodeSignals",
    "Profile",
    "Sawtooth",
    "local_hour",
]
