"""Per-utterance speaking style: what speech leaves free, drawn at random for variety."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class Style:
    """How one speaker/utterance moves, beyond what the phones dictate.

    articulation  scales how far the mouth moves towards each phone's target (closures stay closed)
    jaw_range     scales jaw opening
    smile         resting smile (mouthSmile, with a little cheek/eye squint)
    asymmetry     left-right imbalance, -1..1 (positive: the left side moves more)
    brow_activity scales brow raises on emphasis and brow drift
    blink_rate    scales the measured blink rate
    gaze_activity scales the measured saccade rate and amplitude
    """

    articulation: float = 1.0
    jaw_range: float = 1.0
    smile: float = 0.0
    asymmetry: float = 0.0
    brow_activity: float = 1.0
    blink_rate: float = 1.0
    gaze_activity: float = 1.0

    def __post_init__(self) -> None:
        limits = {"articulation": (0.3, 2.0), "jaw_range": (0.3, 2.0), "smile": (0.0, 1.0),
                  "asymmetry": (-1.0, 1.0), "brow_activity": (0.0, 3.0), "blink_rate": (0.0, 4.0),
                  "gaze_activity": (0.0, 3.0)}
        for name, (low, high) in limits.items():
            value = getattr(self, name)
            if not (low <= value <= high):
                raise ValueError(f"Style.{name} must be in [{low}, {high}], got {value}")

    @classmethod
    def neutral(cls) -> "Style":
        """The average speaker: every factor at 1, no smile, symmetric."""
        return cls()

    @classmethod
    def random(cls, rng: np.random.Generator) -> "Style":
        """A plausible speaker drawn from `rng` (a numpy Generator)."""
        if not isinstance(rng, np.random.Generator):
            raise TypeError("Style.random needs a numpy Generator, e.g. np.random.default_rng(seed)")
        return cls(
            articulation=float(np.clip(rng.lognormal(0.0, 0.15), 0.7, 1.4)),
            jaw_range=float(np.clip(rng.lognormal(0.0, 0.15), 0.7, 1.4)),
            smile=float(np.clip(rng.gamma(1.5, 0.08), 0.0, 0.5)),
            asymmetry=float(np.clip(rng.normal(0.0, 0.12), -0.35, 0.35)),
            brow_activity=float(np.clip(rng.lognormal(0.0, 0.45), 0.2, 2.5)),
            blink_rate=float(np.clip(rng.lognormal(0.0, 0.35), 0.4, 2.5)),
            gaze_activity=float(np.clip(rng.lognormal(0.0, 0.35), 0.3, 2.0)),
        )

    def as_dict(self) -> dict[str, float]:
        return asdict(self)
