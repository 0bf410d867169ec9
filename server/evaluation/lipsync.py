"""Lip-sync figures of a lip-opening curve against phone timings and the audio.

All take the lip opening of :mod:`server.face.lip_opening` (0 = lips touch, 1 = the gap
of jawOpen = 1 alone), sampled at ``fps`` with row t at time t / fps, and phones as
``(phone, start_s, end_s)`` (a forced alignment of the transcript). Definitions:

- A frame belongs to a phone when the frame's own interval [(t - 0.5)/fps, (t + 0.5)/fps)
  overlaps the phone's span, so a phone shorter than a frame still owns the frame it falls
  in. ``tolerance_frames`` (default 0) widens that by whole frames on each side; the
  figures in docs/RESULTS.md use 0.
- **Bilabial closure**: share of P, B, M whose minimum opening over their frames is at most
  CLOSED_THRESHOLD (0.05, about 2 mm).
- **Open vowels**: share of AA, AE, AH, AO, AW, AY whose maximum opening over their frames
  is at least OPEN_THRESHOLD (0.15, about 6 mm: three times the closed threshold, a gap
  that reads as an open mouth).
- **Rest**: share of frames inside pauses (SIL) longer than 0.3 s with opening at most 0.05.
  The first and last 0.1 s of a pause are left out where it borders speech (the lips close
  after and open before speaking); a pause at the start or end of the file keeps its outer
  edge.
- **Sync**: the Pearson correlation between the lip opening and the loudness envelope
  (RMS level in dB over a 30 ms window, floored 50 dB below the file's 99th percentile) on
  a 10 ms grid (the opening linearly interpolated), at the lag in [-150, +150] ms that
  maximises it, refined between grid steps by a parabola through the peak. A positive lag
  means the lips move AFTER the sound (the opening at t + lag matches the loudness at t);
  a negative lag means the lips lead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from server.face.lip_opening import CLOSED_THRESHOLD
from server.phones import BILABIALS, OPEN_VOWELS

OPEN_THRESHOLD = 0.15
PAUSE_MIN_S = 0.3
PAUSE_EDGE_S = 0.1
SYNC_MAX_LAG_S = 0.150
SYNC_STEP_S = 0.010
ENVELOPE_WINDOW_S = 0.030
ENVELOPE_FLOOR_DB = 50.0


def frames_of_span(start_s: float, end_s: float, fps: float, n_frames: int,
                   tolerance_frames: int = 0) -> np.ndarray:
    """Indices of the frames whose interval [(t-0.5)/fps, (t+0.5)/fps) overlaps [start_s, end_s)."""
    first = int(np.floor(start_s * fps - 0.5)) + 1 - tolerance_frames
    last = int(np.ceil(end_s * fps + 0.5)) - 1 + tolerance_frames
    first, last = max(first, 0), min(last, n_frames - 1)
    return np.arange(first, last + 1)


@dataclass
class Share:
    """A count of hits out of a count of cases (pooled by adding counts)."""

    hits: int
    total: int

    @property
    def value(self) -> float:
        return self.hits / self.total if self.total else float("nan")

    def __add__(self, other: "Share") -> "Share":
        return Share(self.hits + other.hits, self.total + other.total)

    def __str__(self) -> str:
        return f"{self.value:.2f} ({self.hits}/{self.total})" if self.total else "n/a"


def _phone_share(opening: np.ndarray, phones, fps: float, which: frozenset, test, tolerance_frames: int) -> Share:
    hits = total = 0
    for phone, start, end in phones:
        if phone not in which:
            continue
        frames = frames_of_span(start, end, fps, len(opening), tolerance_frames)
        if len(frames) == 0:
            continue
        total += 1
        hits += bool(test(opening[frames]))
    return Share(hits, total)


def bilabial_closure(opening, phones, fps: float, tolerance_frames: int = 0) -> Share:
    """Share of P/B/M during which the lips close (opening <= 0.05 at some frame)."""
    return _phone_share(np.asarray(opening), phones, fps, BILABIALS,
                        lambda o: o.min() <= CLOSED_THRESHOLD, tolerance_frames)


def open_vowels(opening, phones, fps: float, tolerance_frames: int = 0) -> Share:
    """Share of AA/AE/AH/AO/AW/AY during which the mouth clearly opens (opening >= 0.15)."""
    return _phone_share(np.asarray(opening), phones, fps, OPEN_VOWELS,
                        lambda o: o.max() >= OPEN_THRESHOLD, tolerance_frames)


def rest_frames(phones, fps: float, n_frames: int) -> np.ndarray:
    """Frames inside pauses longer than 0.3 s, without 0.1 s next to speech on either side."""
    if not phones:
        return np.zeros(0, dtype=int)
    file_start, file_end = phones[0][1], phones[-1][2]
    chosen = []
    for phone, start, end in phones:
        if phone != "SIL" or end - start <= PAUSE_MIN_S:
            continue
        inner_start = start if start <= file_start + 1e-9 else start + PAUSE_EDGE_S
        inner_end = end if end >= file_end - 1e-9 else end - PAUSE_EDGE_S
        times = np.arange(n_frames) / fps
        chosen.append(np.nonzero((times >= inner_start) & (times < inner_end))[0])
    return np.unique(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=int)


def rest(opening, phones, fps: float) -> Share:
    """Share of pause frames (pauses > 0.3 s, edges next to speech excluded) with the lips closed."""
    opening = np.asarray(opening)
    frames = rest_frames(phones, fps, len(opening))
    return Share(int(np.sum(opening[frames] <= CLOSED_THRESHOLD)), len(frames))


def loudness_envelope(samples: np.ndarray, sample_rate: int, step_s: float = SYNC_STEP_S) -> np.ndarray:
    """RMS level in dB over 30 ms windows centred every ``step_s`` (first at time 0), floored."""
    samples = np.asarray(samples, dtype=np.float64)
    hop = step_s * sample_rate
    half = int(round(ENVELOPE_WINDOW_S * sample_rate / 2))
    n_steps = int(np.floor(len(samples) / hop)) + 1
    padded = np.pad(samples, (half, half + int(np.ceil(hop))))
    cumulative = np.concatenate([[0.0], np.cumsum(padded ** 2)])
    centres = np.round(np.arange(n_steps) * hop).astype(int) + half
    energy = (cumulative[centres + half] - cumulative[centres - half]) / (2 * half)
    level = 10.0 * np.log10(energy + 1e-12)
    return np.maximum(level, np.percentile(level, 99) - ENVELOPE_FLOOR_DB)


def _on_grid(opening: np.ndarray, fps: float, n_steps: int, step_s: float) -> np.ndarray:
    return np.interp(np.arange(n_steps) * step_s, np.arange(len(opening)) / fps, opening)


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    denominator = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denominator) if denominator > 0 else 0.0


def lagged_correlations(opening, fps: float, envelope: np.ndarray,
                        step_s: float = SYNC_STEP_S, max_lag_s: float = SYNC_MAX_LAG_S):
    """(lags in s, correlation at each lag) of opening(t + lag) with envelope(t)."""
    n = len(envelope)
    grid = _on_grid(np.asarray(opening, dtype=np.float64), fps, n, step_s)
    steps = int(round(max_lag_s / step_s))
    lags = np.arange(-steps, steps + 1)
    correlations = np.empty(len(lags))
    for i, k in enumerate(lags):
        if k >= 0:
            correlations[i] = _pearson(grid[k:], envelope[:n - k])
        else:
            correlations[i] = _pearson(grid[:n + k], envelope[-k:])
    return lags * step_s, correlations


@dataclass
class Sync:
    correlation: float
    lag_ms: float

    def __str__(self) -> str:
        return f"{self.correlation:.2f} @ {int(round(self.lag_ms)):+d} ms"


def best_lag(lags_s: np.ndarray, correlations: np.ndarray) -> Sync:
    """The peak correlation and its lag, refined by a parabola through the peak and its neighbours."""
    i = int(np.argmax(correlations))
    lag, peak = float(lags_s[i]), float(correlations[i])
    if 0 < i < len(correlations) - 1:
        left, right = correlations[i - 1], correlations[i + 1]
        curvature = left - 2 * peak + right
        if curvature < 0:
            offset = 0.5 * (left - right) / curvature
            lag += offset * float(lags_s[1] - lags_s[0])
            peak -= 0.25 * (left - right) * offset
    return Sync(peak, lag * 1000.0)


def sync(opening, fps: float, samples: np.ndarray, sample_rate: int) -> Sync:
    """Best correlation of lip opening with the loudness envelope over +-150 ms, and its lag."""
    return best_lag(*lagged_correlations(opening, fps, loudness_envelope(samples, sample_rate)))


@dataclass
class LipSyncScores:
    """The four real-speech figures of one file (or pooled over files)."""

    closure: Share
    open_vowels: Share
    rest: Share
    sync: Sync
    seconds: float
    # Correlation at every lag, kept so that pooling can pick one lag for all files.
    lag_curve: tuple[np.ndarray, np.ndarray] | None = None


def score_lipsync(opening, phones, fps: float, samples: np.ndarray, sample_rate: int,
                  tolerance_frames: int = 0) -> LipSyncScores:
    """All four lip-sync figures of one file."""
    opening = np.asarray(opening, dtype=np.float64)
    curve = lagged_correlations(opening, fps, loudness_envelope(samples, sample_rate))
    return LipSyncScores(
        closure=bilabial_closure(opening, phones, fps, tolerance_frames),
        open_vowels=open_vowels(opening, phones, fps, tolerance_frames),
        rest=rest(opening, phones, fps),
        sync=best_lag(*curve),
        seconds=len(samples) / sample_rate,
        lag_curve=curve,
    )


def pool(scores: list[LipSyncScores]) -> LipSyncScores:
    """Shares pooled by adding counts; sync from the duration-weighted mean correlation per lag."""
    if not scores:
        raise ValueError("nothing to pool: no file was scored")
    closure, vowels, rests = Share(0, 0), Share(0, 0), Share(0, 0)
    for s in scores:
        closure, vowels, rests = closure + s.closure, vowels + s.open_vowels, rests + s.rest
    weights = np.array([s.seconds for s in scores])
    lags = scores[0].lag_curve[0]
    mean_curve = np.average(np.stack([s.lag_curve[1] for s in scores]), axis=0, weights=weights)
    return LipSyncScores(closure, vowels, rests, best_lag(lags, mean_curve), float(weights.sum()),
                         (lags, mean_curve))
