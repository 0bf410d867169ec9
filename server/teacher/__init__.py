"""The articulatory teacher: phones with timings -> ARKit curves.

The diffusion model learns to imitate these curves from audio alone, so this is where the lip
sync's quality is decided. See docs/TEACHER.md.

    curves = teacher_curves(phones, duration_s, fps=30.0, loudness=None, style=None, seed=0)

`phones` is a list of (ARPAbet phone, start_s, end_s) plus SIL and BR; the result is float32
(round(duration_s * fps), 52) in addon.core.arkit.CHANNELS order, values in [0, 1].
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from addon.core.arkit import INDEX, NUM_CHANNELS, UPPER_FACE_CHANNELS
from server.audio import SAMPLE_RATE

from .emotion import emotion_offsets, emotion_signatures
from server.face.lip_opening import lip_opening, raw_lip_opening
from .mouth import mouth_channels
from server.phones import NON_SPEECH, PHONES

from .phones import normalise_phones
from .style import EMOTIONS, Style
from .upper_face import upper_face, upper_face_stats

__all__ = ["teacher_curves", "loudness_envelope", "Style", "EMOTIONS", "lip_opening", "PHONES", "upper_face_stats",
           "emotion_signatures"]

# The teacher works on a fine time grid and averages down to frames, so that events shorter than
# a frame (a 20 ms bilabial closure) are not lost between frame times.
FINE_RATE = 500.0
# Fine samples at or below this opening are a closure that some frame must show.
CLOSURE_KEEP_OPENING = 0.02
# Loudness scales jaw opening: gain per dB relative to the utterance's loud level, and limits.
JAW_GAIN_PER_DB = 0.025
JAW_GAIN_RANGE = (0.6, 1.15)
# An emotion's offsets on these go on top of the upper face; the rest go into the mouth before its
# closures are solved.
UPPER = np.zeros(NUM_CHANNELS, bool)
UPPER[[INDEX[name] for name in UPPER_FACE_CHANNELS]] = True

Loudness = np.ndarray | Callable[[np.ndarray], np.ndarray] | None


def loudness_envelope(samples16k: np.ndarray, fps: float = 30.0) -> np.ndarray:
    """RMS loudness of 16 kHz mono audio at frame times t / fps (window of two frames, centred)."""
    x = np.asarray(samples16k, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"loudness_envelope needs mono samples (1-D), got shape {x.shape}")
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    sr = float(SAMPLE_RATE)
    frames = int(round(len(x) / sr * fps))
    half = int(round(sr / fps))
    cumsum = np.concatenate([[0.0], np.cumsum(x * x)])
    centres = np.round(np.arange(frames) * sr / fps).astype(int)
    lo = np.clip(centres - half, 0, len(x))
    hi = np.clip(centres + half, 0, len(x))
    energy = (cumsum[hi] - cumsum[lo]) / np.maximum(hi - lo, 1)
    return np.sqrt(energy).astype(np.float32)


def _loudness_db(loudness: Loudness, times: np.ndarray, fps: float) -> np.ndarray | None:
    """Loudness in dB at `times`, from frame-rate values or a callable of times (s)."""
    if loudness is None:
        return None
    if callable(loudness):
        values = np.asarray(loudness(times), dtype=np.float64)
        if values.shape != times.shape:
            raise ValueError(f"loudness callable must return one value per time, got shape {values.shape} "
                             f"for {times.shape[0]} times")
    else:
        frames = np.asarray(loudness, dtype=np.float64)
        if frames.ndim != 1 or len(frames) == 0:
            raise ValueError(f"loudness must be a 1-D array of RMS values at fps frames, got shape {frames.shape}")
        values = np.interp(times, np.arange(len(frames)) / fps, frames)
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError("loudness must be finite and non-negative (RMS amplitude)")
    return 20.0 * np.log10(np.maximum(values, 1e-5))


def _jaw_gain(loudness_db: np.ndarray | None, speaking: np.ndarray) -> np.ndarray | float:
    if loudness_db is None:
        return 1.0
    reference = np.percentile(loudness_db[speaking], 90) if speaking.any() else loudness_db.max()
    return np.clip(1.0 + JAW_GAIN_PER_DB * (loudness_db - reference), *JAW_GAIN_RANGE)


def rasterise(fine: np.ndarray, times: np.ndarray, n_frames: int, fps: float, duration_s: float) -> np.ndarray:
    """Average the fine-grid curves over each frame's window, keeping every lip closure.

    A closure shorter than a frame would vanish in the average, so for every run of closed fine
    samples that no frame shows closed, the frame holding most of the run takes its closed sample.
    Only that one frame changes, so a short vowel between two closures still opens.
    """
    edges = np.clip((np.arange(n_frames + 1) - 0.5) / fps, 0.0, duration_s)
    idx = np.searchsorted(times, edges)
    idx[-1] = len(times)
    starts = np.minimum(idx[:-1], len(times) - 1)
    counts = np.maximum(idx[1:] - starts, 1)[:, None]
    frames = np.add.reduceat(fine, starts, axis=0) / counts
    opening = raw_lip_opening(fine)
    frame_opening = raw_lip_opening(frames)
    closed = np.concatenate([[False], opening <= CLOSURE_KEEP_OPENING, [False]])
    run_starts = np.nonzero(closed[1:-1] & ~closed[:-2])[0]
    run_ends = np.nonzero(closed[1:-1] & ~closed[2:])[0] + 1
    frame_of = np.clip(np.searchsorted(idx, np.arange(len(times)), side="right") - 1, 0, n_frames - 1)
    for a, b in zip(run_starts, run_ends):
        covering = frame_of[a:b]
        if np.any(frame_opening[covering] <= CLOSURE_KEEP_OPENING):
            continue
        f = int(np.bincount(covering).argmax())
        lo, hi = starts[f], max(idx[f + 1], starts[f] + 1)
        frames[f] = fine[lo + int(np.argmin(opening[lo:hi]))]
        frame_opening[f] = raw_lip_opening(frames[f])
    return frames


def teacher_curves(phones, duration_s: float, *, fps: float = 30.0, loudness: Loudness = None,
                   style: Style | None = None, seed: int = 0) -> np.ndarray:
    """ARKit curves (round(duration_s * fps), 52), float32 in [0, 1], for timed phones."""
    if not fps or fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    segments = normalise_phones(phones, duration_s)
    style = Style.neutral() if style is None else style
    if not isinstance(style, Style):
        raise TypeError(f"style must be a server.teacher.Style, got {type(style).__name__}")
    n_frames = int(round(duration_s * fps))
    if n_frames == 0:
        return np.zeros((0, NUM_CHANNELS), np.float32)
    n_fine = max(int(np.ceil(duration_s * FINE_RATE)), 2)
    times = (np.arange(n_fine) + 0.5) * (duration_s / n_fine)
    rng = np.random.default_rng(seed)

    loudness_db = _loudness_db(loudness, times, fps)
    speaking = np.zeros(n_fine, bool)
    for phone, start, end, _stress in segments:
        if phone not in NON_SPEECH:
            speaking[np.searchsorted(times, start):np.searchsorted(times, end)] = True
    emotion = emotion_offsets(style, times, seed)
    mouth_offsets = None if emotion is None else np.where(UPPER, 0.0, emotion)
    mouth = mouth_channels(segments, times, _jaw_gain(loudness_db, speaking), style, mouth_offsets)
    fine = mouth + upper_face(segments, times, duration_s, loudness_db, style, rng)
    if emotion is not None:
        fine[:, UPPER] += emotion[:, UPPER]
    np.clip(fine, 0.0, 1.0, out=fine)
    frames = rasterise(fine, times, n_frames, fps, duration_s)
    out = np.clip(frames, 0.0, 1.0).astype(np.float32)
    assert out.shape == (n_frames, NUM_CHANNELS)
    return out
