"""Emotions: measured (or FACS prototype) signatures added to the curves, breathing slowly.

The signatures (emotion_signatures.json) come from `scripts/measure_emotions` on Live Link Face
takes: per channel, the emotional take's median minus the idle take's ("level") and the std of its
1 s moving average ("slow_std"). The teacher adds, per channel,

    intensity * (level + sign(level) * slow_std * z(t))      (never crossing 0, never past 2x level)

where z(t) is one slow, unit-variance process per utterance (knots at the signature's median
decorrelation time, smoothed), so the whole expression waxes and wanes together. z comes from its
own generator seeded by the teacher's seed, so the neutral face draws exactly what it did before.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from addon.core.arkit import INDEX, NUM_CHANNELS

from .style import Style

SIGNATURES_PATH = Path(__file__).with_name("emotion_signatures.json")
# The emotion's own random stream, apart from the upper face's.
EMOTION_STREAM = 0xE0
# Shortest knot spacing of the modulation (s), if a signature reports a faster time scale.
MIN_TIMESCALE_S = 0.5
# The modulation stays within this many standard deviations.
MAX_Z = 2.0


@lru_cache(maxsize=1)
def emotion_signatures() -> dict:
    """The measured signatures (committed with the package)."""
    return json.loads(SIGNATURES_PATH.read_text())


@lru_cache(maxsize=None)
def signature_vectors(emotion: str) -> tuple[np.ndarray, np.ndarray, float]:
    """(level, slow_std, timescale_s) of an emotion as (52,) vectors in CHANNELS order."""
    entry = emotion_signatures()["emotions"][emotion]
    level, slow = np.zeros(NUM_CHANNELS), np.zeros(NUM_CHANNELS)
    for name, c in entry["channels"].items():
        level[INDEX[name]] = c["level"]
        slow[INDEX[name]] = c["slow_std"]
    scales = [c["timescale_s"] for c in entry["channels"].values() if c["level"] != 0 and c["timescale_s"] > 0]
    timescale = max(float(np.median(scales)) if scales else 1.5, MIN_TIMESCALE_S)
    level.setflags(write=False)
    slow.setflags(write=False)
    return level, slow, timescale


def slow_modulation(times: np.ndarray, timescale_s: float, rng: np.random.Generator) -> np.ndarray:
    """A smooth zero-mean process of about unit variance, changing over `timescale_s`."""
    if len(times) == 0:
        return np.zeros(0)
    knots = np.arange(-timescale_s, times[-1] + 2 * timescale_s, timescale_s)
    values = rng.standard_normal(len(knots))
    # raised-cosine interpolation between independent knots, rescaled to unit variance between them
    k = np.clip(np.searchsorted(knots, times, side="right") - 1, 0, len(knots) - 2)
    u = (times - knots[k]) / timescale_s
    w = 0.5 - 0.5 * np.cos(np.pi * u)
    z = values[k] * (1 - w) + values[k + 1] * w
    z /= np.sqrt((1 - w) ** 2 + w ** 2)
    return np.clip(z, -MAX_Z, MAX_Z)


def emotion_offsets(style: Style, times: np.ndarray, seed: int) -> np.ndarray | None:
    """(len(times), 52) offsets the style's emotion adds, or None for no emotion."""
    if style.emotion == "neutral" or style.intensity == 0:
        return None
    level, slow, timescale = signature_vectors(style.emotion)
    rng = np.random.default_rng([EMOTION_STREAM, seed])
    z = slow_modulation(times, timescale, rng)[:, None]
    magnitude = np.clip(np.abs(level) + slow * z, 0.0, 2.0 * np.abs(level))
    offsets = style.intensity * np.sign(level) * magnitude
    # asymmetry tilts the emotion like the rest of the face
    left = [j for name, j in INDEX.items() if name.endswith("Left")]
    right = [j for name, j in INDEX.items() if name.endswith("Right")]
    offsets[:, left] *= 1.0 + 0.5 * style.asymmetry
    offsets[:, right] *= 1.0 - 0.5 * style.asymmetry
    return offsets
