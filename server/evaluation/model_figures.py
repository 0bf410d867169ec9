"""Figures of the generative model itself: diversity, jitter, pin error, seams, speed.

Array functions (testable on constructed curves) first, then :func:`measure_model`, which
runs an engine on one clip to get them. Curves are (T, 52) or takes (N, T, 52) in
addon.core.arkit.CHANNELS order.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from addon.core.arkit import CHANNELS, INDEX, SPEECH_CHANNELS, UPPER_FACE_CHANNELS

MOUTH = [INDEX[n] for n in SPEECH_CHANNELS if n != "tongueOut"]   # jaw and mouth
UPPER_FACE = [INDEX[n] for n in UPPER_FACE_CHANNELS]               # eyes, brows, cheeks, nose


def diversity(takes: np.ndarray, channels: list[int]) -> float:
    """Mean over frames and ``channels`` of the standard deviation across takes (N, T, 52)."""
    takes = np.asarray(takes, dtype=np.float64)
    if takes.ndim != 3 or takes.shape[0] < 2:
        raise ValueError(f"diversity needs at least two takes (N, T, 52); got shape {takes.shape}")
    return float(takes[:, :, channels].std(axis=0).mean())


def jitter(curves: np.ndarray, channels: list[int] | None = None) -> float:
    """Mean |second difference| per frame and channel: frame-to-frame shake (0 for straight lines)."""
    curves = np.asarray(curves, dtype=np.float64)
    if channels is not None:
        curves = curves[..., channels]
    if curves.shape[-2] < 3:
        return 0.0
    return float(np.abs(np.diff(curves, n=2, axis=-2)).mean())


def pin_error(curves: np.ndarray, keys) -> float:
    """Largest |output - pinned value| over ``keys`` of (frame, channel name, value)."""
    curves = np.asarray(curves)
    return max((abs(float(curves[frame, INDEX[channel]]) - value) for frame, channel, value in keys),
               default=0.0)


def random_keys(rng: np.random.Generator, n_frames: int, count: int) -> list[tuple[int, str, float]]:
    """``count`` pins at distinct random frames, on random channels, with random values in [0, 1]."""
    frames = rng.choice(n_frames, size=min(count, n_frames), replace=False)
    channels = rng.choice(len(CHANNELS), size=len(frames))
    return [(int(f), CHANNELS[int(c)], round(float(rng.uniform(0.0, 1.0)), 4)) for f, c in zip(frames, channels)]


@dataclass
class SeamJump:
    """Worst jump across a channel at a regenerated range's edges vs the 95th percentile elsewhere."""

    value: float
    value_p95_elsewhere: float
    velocity: float
    velocity_p95_elsewhere: float

    def __str__(self) -> str:
        return (f"value {self.value:.3f} (p95 elsewhere {self.value_p95_elsewhere:.3f}), velocity "
                f"{self.velocity:.3f} (p95 {self.velocity_p95_elsewhere:.3f})")


def seam_jump(curves: np.ndarray, start: int, end: int) -> SeamJump:
    """Jumps where the regenerated frames start..end (inclusive) meet the kept frames.

    A boundary b lies between frames b - 1 and b. Its value jump is max over channels of
    |x[b] - x[b-1]|; its velocity jump is max over channels of |(x[b+1] - x[b]) - (x[b-1] - x[b-2])|,
    the change in slope across it. The seams are b = start and b = end + 1; "elsewhere" is every
    other boundary with the frames those differences need.
    """
    x = np.asarray(curves, dtype=np.float64)
    n = len(x)
    value = np.full(n, np.nan)
    velocity = np.full(n, np.nan)
    value[1:] = np.abs(np.diff(x, axis=0)).max(axis=1)
    for b in range(2, n - 1):
        velocity[b] = np.abs((x[b + 1] - x[b]) - (x[b - 1] - x[b - 2])).max()
    seams = [b for b in (start, end + 1) if 2 <= b <= n - 2]
    if not seams:
        raise ValueError(f"range {start}:{end} has no interior edge in {n} frames; regenerate away from the ends")
    others = np.ones(n, bool)
    others[:2] = False
    others[n - 1:] = False
    for b in seams:
        others[max(0, b - 2):b + 3] = False     # boundaries whose differences touch the seam
    return SeamJump(float(np.nanmax(value[seams])), float(np.nanpercentile(value[others], 95)),
                    float(np.nanmax(velocity[seams])), float(np.nanpercentile(velocity[others], 95)))


@dataclass
class ModelFigures:
    mouth_diversity: float
    upper_diversity: float
    jitter: float
    pin_error: float
    seam: SeamJump
    outside_change: float          # max |change| outside the regenerated range (should be 0)
    seconds_per_second: float      # compute time of one take / audio duration
    seconds_per_second_all: float  # of all `samples` takes in one batch / audio duration


def measure_model(engine, audio, *, samples: int = 8, seed: int = 0, pins: int = 12,
                  progress=lambda message: None) -> ModelFigures:
    """Run ``engine`` on ``audio`` (server.audio.Audio) for every model figure."""
    from server.engine import GenerationRequest, Key

    duration = audio.duration
    progress("one take (speed)")
    began = time.perf_counter()
    single = engine.generate(GenerationRequest(audio=audio, samples=1, seed=seed)).takes[0]
    one_take = time.perf_counter() - began

    progress(f"{samples} takes (diversity, jitter)")
    began = time.perf_counter()
    takes = engine.generate(GenerationRequest(audio=audio, samples=samples, seed=seed)).takes
    all_takes = time.perf_counter() - began

    progress(f"{pins} random pins")
    rng = np.random.default_rng(seed)
    keys = random_keys(rng, len(single), pins)
    pinned = engine.generate(GenerationRequest(audio=audio, samples=1, seed=seed + 1,
                                               keys=[Key(f, c, v) for f, c, v in keys])).takes[0]

    progress("regenerate a range (seams)")
    n = len(single)
    start, end = n // 3, min(n - 4, n // 3 + max(15, n // 4))
    edited = engine.generate(GenerationRequest(audio=audio, samples=1, seed=seed + 2, existing=single,
                                               regenerate=(start, end))).takes[0]
    outside = np.ones(n, bool)
    outside[start:end + 1] = False
    return ModelFigures(
        mouth_diversity=diversity(takes, MOUTH),
        upper_diversity=diversity(takes, UPPER_FACE),
        jitter=jitter(takes),
        pin_error=pin_error(pinned, keys),
        seam=seam_jump(edited, start, end),
        outside_change=float(np.abs(edited[outside] - single[outside]).max()),
        seconds_per_second=one_take / duration,
        seconds_per_second_all=all_takes / duration,
    )
