"""Per-utterance performance style: what speech leaves free, set by the animator or drawn at random.

`Style.RANGES` is the one place the controls' ranges live.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import ClassVar

import numpy as np

EMOTIONS: tuple[str, ...] = ("neutral", "happy", "sad", "angry", "surprised", "fearful", "disgusted")


@dataclass(frozen=True)
class Style:
    """How one speaker/utterance moves, beyond what the phones dictate.

    articulation  jaw and lip amplitude: 0 mumbled (the mouth still moves a little), 1 neutral,
                  2 over-articulated; closures stay closed at every value
    jaw_range     scales jaw opening (a hidden per-speaker factor, not a control)
    smile         -1 frown .. 0 .. 1 smile (mouthSmile, dimple, a little cheek/eye squint)
    asymmetry     left-right imbalance, -1..1 (positive: the left side moves more)
    brow_activity scales brow raises on emphasis and brow drift
    blink_rate    scales the measured blink rate
    gaze_activity scales the measured saccade rate and amplitude
    emotion       one of EMOTIONS: its measured (or FACS prototype) signature is added
    intensity     0..1, how strongly the emotion shows (neutral: 0)
    """

    RANGES: ClassVar[dict[str, tuple[float, float]]] = {
        "articulation": (0.0, 2.0), "jaw_range": (0.3, 2.0), "smile": (-1.0, 1.0),
        "asymmetry": (-1.0, 1.0), "brow_activity": (0.0, 3.0), "blink_rate": (0.0, 4.0),
        "gaze_activity": (0.0, 3.0), "intensity": (0.0, 1.0)}
    # random_broad: the share of each dimension drawn uniformly over its range (else the natural prior)
    BROAD_UNIFORM_SHARE: ClassVar[float] = 0.4
    BROAD_NEUTRAL_SHARE: ClassVar[float] = 0.4
    BROAD_INTENSITY: ClassVar[tuple[float, float]] = (0.2, 1.0)

    articulation: float = 1.0
    jaw_range: float = 1.0
    smile: float = 0.0
    asymmetry: float = 0.0
    brow_activity: float = 1.0
    blink_rate: float = 1.0
    gaze_activity: float = 1.0
    emotion: str = "neutral"
    intensity: float = 0.0

    def __post_init__(self) -> None:
        for name, (low, high) in self.RANGES.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) \
                    or not (low <= value <= high):
                raise ValueError(f"Style.{name} must be a number in [{low}, {high}], got {value!r}")
        if self.emotion not in EMOTIONS:
            raise ValueError(f"Style.emotion must be one of {', '.join(EMOTIONS)}, got {self.emotion!r}")
        if self.emotion == "neutral" and self.intensity != 0:
            raise ValueError(f"Style.intensity must be 0 for the neutral emotion, got {self.intensity}")

    @classmethod
    def neutral(cls) -> "Style":
        """The average speaker: every factor at 1, no smile, symmetric, no emotion."""
        return cls()

    @staticmethod
    def _check_rng(rng) -> None:
        if not isinstance(rng, np.random.Generator):
            raise TypeError("Style.random needs a numpy Generator, e.g. np.random.default_rng(seed)")

    @classmethod
    def random(cls, rng: np.random.Generator) -> "Style":
        """The natural prior: a plausible speaker when the animator sets nothing (emotion neutral)."""
        cls._check_rng(rng)
        return cls(
            articulation=float(np.clip(rng.lognormal(0.0, 0.15), 0.7, 1.4)),
            jaw_range=float(np.clip(rng.lognormal(0.0, 0.15), 0.7, 1.4)),
            smile=float(np.clip(rng.gamma(1.5, 0.08), 0.0, 0.5)),
            asymmetry=float(np.clip(rng.normal(0.0, 0.12), -0.35, 0.35)),
            brow_activity=float(np.clip(rng.lognormal(0.0, 0.45), 0.2, 2.5)),
            blink_rate=float(np.clip(rng.lognormal(0.0, 0.35), 0.4, 2.5)),
            gaze_activity=float(np.clip(rng.lognormal(0.0, 0.35), 0.3, 2.0)),
        )

    @classmethod
    def random_broad(cls, rng: np.random.Generator) -> "Style":
        """Training coverage: per dimension the natural prior (60%) or uniform over the range (40%);
        emotion neutral (40%) or one of the six others equally, intensity uniform in [0.2, 1]."""
        cls._check_rng(rng)
        values = cls.random(rng).as_dict()
        for name, (low, high) in cls.RANGES.items():
            if name != "intensity" and rng.random() < cls.BROAD_UNIFORM_SHARE:
                values[name] = float(rng.uniform(low, high))
        if rng.random() >= cls.BROAD_NEUTRAL_SHARE:
            values["emotion"] = EMOTIONS[1 + int(rng.integers(len(EMOTIONS) - 1))]
            values["intensity"] = float(rng.uniform(*cls.BROAD_INTENSITY))
        return cls(**values)

    @classmethod
    def from_dict(cls, values: dict) -> "Style":
        """A Style from as_dict()'s form; missing keys keep their defaults, unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown Style keys {unknown}; known: {sorted(known)}")
        return cls(**{k: (str(v) if k == "emotion" else float(v)) for k, v in values.items()})

    def as_dict(self) -> dict[str, float | str]:
        return asdict(self)
