"""The upper face: blinks, gaze and brows sampled from statistics of real Live Link Face takes.

The statistics (upper_face_stats.json) come from `scripts/measure_upper_face`. Everything here is
drawn from a seeded numpy Generator, so a seed gives the same face every time.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from addon.core.arkit import INDEX, NUM_CHANNELS

from server.phones import SILENCE, VOWELS
from .style import Style

STATS_PATH = Path(__file__).with_name("upper_face_stats.json")

# Speakers blink more at phrase boundaries: this much of the blink budget goes to pause onsets.
PAUSE_BLINK_PROBABILITY = 0.35
# A brow raise: rise and fall times (s) around an emphasised vowel.
BROW_RISE_S = 0.15
BROW_FALL_S = 0.40
# Emphasised vowels are at least this far apart (s).
EMPHASIS_GAP_S = 0.6
# Intervals between blinks and gaze holds: no shorter than the eye can manage.
MIN_BLINK_INTERVAL_S = 0.25
MIN_HOLD_S = 0.1
# A saccade's flight: the takes show one to two 60 fps frames of motion (saccade_duration_s counts
# the frames above the detection speed, so the whole flight is a little shorter than two frames).
SACCADE_S = 0.025


@lru_cache(maxsize=1)
def upper_face_stats() -> dict:
    """The measured statistics (committed with the package)."""
    return json.loads(STATS_PATH.read_text())


def _lognormal(rng: np.random.Generator, median: float, log_sigma: float, size=None):
    return median * np.exp(log_sigma * rng.standard_normal(size))


class IntervalSampler:
    """Draws intervals with the measured body (deciles) and a long tail that sets the mean.

    The body follows the measured deciles (inverse-CDF through them), which keeps what a lognormal
    would not: real takes mix quick refixations with long holds. The top fifth is the quantile at
    0.8 plus a gamma-distributed excess whose mean makes the overall mean `mean`: the takes are too
    short to show their long intervals (the first and last of each take are never complete), so
    the rate, events per second, is what the tail is fitted to.
    """

    LEVELS = np.arange(0.05, 1.0, 0.1)
    TAIL = 0.2
    TAIL_SHAPE = 2.0   # gamma shape of the tail: less erratic than an exponential

    def __init__(self, quantiles: list[float], mean: float, minimum: float):
        self.quantiles = np.asarray(quantiles, dtype=np.float64)
        self.minimum = minimum
        grid = (np.arange(1000) + 0.5) / 1000 * (1.0 - self.TAIL)
        body_mean = float(np.interp(grid, self.LEVELS, self.quantiles).mean())
        self.tail_start = float(np.interp(1.0 - self.TAIL, self.LEVELS, self.quantiles))
        tail_mean = (mean - (1.0 - self.TAIL) * body_mean) / self.TAIL - self.tail_start
        # A rate faster than the body allows: shrink the body instead of growing a tail.
        self.scale = 1.0 if tail_mean > 0 else mean / ((1.0 - self.TAIL) * body_mean + self.TAIL * self.tail_start)
        self.tail_mean = max(tail_mean, 0.0)

    def __call__(self, rng: np.random.Generator) -> float:
        u = rng.random()
        if u < 1.0 - self.TAIL:
            value = float(np.interp(u, self.LEVELS, self.quantiles))
        else:
            extra = rng.gamma(self.TAIL_SHAPE, self.tail_mean / self.TAIL_SHAPE) if self.tail_mean > 0 else 0.0
            value = self.tail_start + extra
        return max(value * self.scale, self.minimum)


def blink_onsets(duration_s: float, rate_per_min: float, pause_starts: list[float],
                 rng: np.random.Generator) -> list[float]:
    """Blink start times: a renewal process with the measured interval spread, plus pause blinks."""
    stats = upper_face_stats()["blink"]
    if rate_per_min <= 0:
        return []
    mean_interval = 60.0 / rate_per_min
    # Pause blinks take a share of the budget, so the renewal process runs slower.
    expected_pause = PAUSE_BLINK_PROBABILITY * len(pause_starts)
    budget = max(duration_s / mean_interval - expected_pause, 0.2 * duration_s / mean_interval)
    mean_interval = duration_s / max(budget, 1e-6)
    interval = IntervalSampler(stats["interval_s"]["quantiles"], mean_interval, MIN_BLINK_INTERVAL_S)
    onsets = []
    t = rng.uniform(0.0, mean_interval)
    while t < duration_s:
        onsets.append(t)
        t += interval(rng)
    for start in pause_starts:
        if rng.random() < PAUSE_BLINK_PROBABILITY:
            onsets.append(start + rng.uniform(0.0, 0.15))
    onsets.sort()
    kept = []
    for t in onsets:   # two blinks cannot overlap
        if not kept or t - kept[-1] > 0.3:
            kept.append(t)
    return kept


def add_blinks(curves: np.ndarray, times: np.ndarray, onsets: list[float], style: Style,
               rng: np.random.Generator) -> None:
    stats = upper_face_stats()["blink"]
    shape = np.asarray(stats["shape"])
    shape = (shape - shape[0]) / (1.0 - shape[0])   # the template ends at its edge level: start at 0
    grid = np.linspace(0.0, 1.0, len(shape))
    blink = np.zeros(len(times))
    for t0 in onsets:
        duration = float(np.clip(_lognormal(rng, stats["duration_s"]["median"], stats["duration_s"]["log_sigma"]),
                                 0.1, 0.6))
        peak = float(np.clip(rng.normal(stats["peak"]["mean"], stats["peak"]["std"]), 0.3, 1.0))
        lo, hi = np.searchsorted(times, [t0, t0 + duration])
        u = (times[lo:hi] - t0) / duration
        blink[lo:hi] = np.maximum(blink[lo:hi], peak * np.interp(u, grid, shape))
    side = 1.0 + 0.1 * style.asymmetry
    curves[:, INDEX["eyeBlinkLeft"]] += blink * side
    curves[:, INDEX["eyeBlinkRight"]] += blink / side
    # ARKit trackers report the eyes looking down while the lids close.
    down = stats["look_down"] * blink
    curves[:, INDEX["eyeLookDownLeft"]] += down
    curves[:, INDEX["eyeLookDownRight"]] += down


def add_gaze(curves: np.ndarray, times: np.ndarray, duration_s: float, style: Style,
             rng: np.random.Generator) -> None:
    """Fixations held for measured hold times, joined by quick saccades of measured amplitude."""
    stats = upper_face_stats()["gaze"]
    activity = max(style.gaze_activity, 1e-3)
    # Hold times keep the measured distribution's shape, their mean set by the measured saccade rate.
    hold = IntervalSampler(stats["hold_s"]["quantiles"], 1.0 / (stats["saccade_rate_per_s"] * activity), MIN_HOLD_S)
    spread = np.array([stats["spread"]["x"], stats["spread"]["y"]]) * min(activity, 1.5)
    position = np.zeros(2)
    gaze = np.zeros((len(times), 2))
    t = hold(rng) * rng.random()
    prev_t = 0.0
    while prev_t < duration_s:
        lo, hi = np.searchsorted(times, [prev_t, t])
        gaze[lo:hi] = position
        # the saccade: amplitude from the measured distribution, direction mostly horizontal,
        # pulled back towards the centre so the eyes wander around straight ahead.
        amplitude = min(_lognormal(rng, stats["amplitude"]["median"], stats["amplitude"]["log_sigma"]),
                        stats["amplitude"]["p90"] * 1.5) * min(activity, 1.5)
        horizontal = rng.random() < stats["horizontal_share"]
        axis = 0 if horizontal else 1
        # the further off centre the eyes are, the likelier the next saccade heads back
        towards_centre = rng.random() < 0.5 + 0.5 * np.tanh(abs(position[axis]) / spread[axis])
        sign = -np.sign(position[axis]) if towards_centre and position[axis] != 0 else rng.choice([-1.0, 1.0])
        direction = np.zeros(2)
        direction[axis] = sign
        direction[1 - axis] = rng.normal(0.0, 0.3)
        target = position + amplitude * direction / np.linalg.norm(direction)
        target = np.clip(target, -3 * spread, 3 * spread)
        end = t + SACCADE_S
        lo2, hi2 = np.searchsorted(times, [t, end])
        u = (times[lo2:hi2] - t) / SACCADE_S
        ease = (0.5 - 0.5 * np.cos(np.pi * u))[:, None]
        gaze[lo2:hi2] = position + ease * (target - position)
        position = target
        prev_t = end
        t = end + hold(rng)
    gx, gy = gaze[:, 0], gaze[:, 1]
    # gaze x > 0: looking to the subject's left (left eye outwards, right eye inwards)
    curves[:, INDEX["eyeLookOutLeft"]] += np.clip(gx, 0, None)
    curves[:, INDEX["eyeLookInRight"]] += np.clip(gx, 0, None)
    curves[:, INDEX["eyeLookInLeft"]] += np.clip(-gx, 0, None)
    curves[:, INDEX["eyeLookOutRight"]] += np.clip(-gx, 0, None)
    for side in ("Left", "Right"):
        curves[:, INDEX["eyeLookUp" + side]] += np.clip(gy, 0, None)
        curves[:, INDEX["eyeLookDown" + side]] += np.clip(-gy, 0, None)


def emphasis_times(phones, loudness_db: np.ndarray | None, times: np.ndarray, rng: np.random.Generator) -> list[tuple[float, float]]:
    """(time, strength) of emphasised vowels: stressed (if marked), long, or loud ones."""
    vowels = [(p, s, e, stress) for p, s, e, stress in phones if p in VOWELS]
    if not vowels:
        return []
    durations = np.array([e - s for _p, s, e, _st in vowels])
    score = (durations - durations.mean()) / (durations.std() + 1e-6)
    if loudness_db is not None:
        level = np.array([np.max(loudness_db[np.searchsorted(times, s):max(np.searchsorted(times, e), np.searchsorted(times, s) + 1)])
                          for _p, s, e, _st in vowels])
        score = score + (level - level.mean()) / (level.std() + 1e-6)
    stress = np.array([1.0 if st == 1 else (-1.0 if st == 0 else 0.0) for *_x, st in vowels])
    score = score + stress + 0.5 * rng.standard_normal(len(vowels))
    order = np.argsort(-score)
    chosen: list[tuple[float, float]] = []
    budget = max(1, int(round(0.25 * len(vowels))))
    for k in order:
        if len(chosen) >= budget or score[k] < 0.5:
            break
        _p, s, e, _st = vowels[k]
        centre = 0.5 * (s + e)
        if all(abs(centre - c) > EMPHASIS_GAP_S for c, _w in chosen):
            chosen.append((centre, float(min(score[k], 3.0) / 3.0)))
    return chosen


def add_brows(curves: np.ndarray, times: np.ndarray, emphasis: list[tuple[float, float]], style: Style,
              rng: np.random.Generator) -> None:
    stats = upper_face_stats()["brow"]
    activity = style.brow_activity
    raise_height = (stats["inner_up"]["p90"] - stats["inner_up"]["p10"]) * activity
    inner = np.full(len(times), stats["inner_up"]["p50"] * min(activity, 1.5) * 0.5)
    # slow drift: smoothed noise, about one wander every few seconds
    knots = np.arange(0.0, times[-1] + 2.0, 1.5) if len(times) else np.zeros(1)
    drift = np.interp(times, knots, rng.normal(0.0, 0.25 * raise_height, len(knots)))
    inner += drift
    raises = np.zeros(len(times))
    for centre, strength in emphasis:
        height = raise_height * (0.5 + 0.5 * strength) * rng.uniform(0.6, 1.0)
        lo, hi = np.searchsorted(times, [centre - BROW_RISE_S, centre + BROW_FALL_S])
        t = times[lo:hi]
        rise = np.clip((t - (centre - BROW_RISE_S)) / BROW_RISE_S, 0.0, 1.0)
        fall = np.clip(((centre + BROW_FALL_S) - t) / BROW_FALL_S, 0.0, 1.0)
        raises[lo:hi] = np.maximum(raises[lo:hi], height * (0.5 - 0.5 * np.cos(np.pi * np.minimum(rise, fall))))
    outer_ratio = min(stats["outer_inner_ratio"], 1.2)
    side_l, side_r = 1.0 + 0.5 * style.asymmetry, 1.0 - 0.5 * style.asymmetry
    curves[:, INDEX["browInnerUp"]] += inner + raises
    curves[:, INDEX["browOuterUpLeft"]] += 0.6 * outer_ratio * raises * side_l
    curves[:, INDEX["browOuterUpRight"]] += 0.6 * outer_ratio * raises * side_r


def add_smile_squint(curves: np.ndarray, style: Style) -> None:
    """A smiling face also narrows the eyes and lifts the cheeks (a frown does neither)."""
    smile = max(style.smile, 0.0)
    for side, scale in (("Left", 1.0 + 0.5 * style.asymmetry), ("Right", 1.0 - 0.5 * style.asymmetry)):
        curves[:, INDEX["cheekSquint" + side]] += 0.5 * smile * scale
        curves[:, INDEX["eyeSquint" + side]] += 0.3 * smile * scale


def upper_face(phones, times: np.ndarray, duration_s: float, loudness_db: np.ndarray | None,
               style: Style, rng: np.random.Generator) -> np.ndarray:
    """Upper-face curves (len(times), 52) at `times`; lower-face channels stay zero."""
    curves = np.zeros((len(times), NUM_CHANNELS))
    stats = upper_face_stats()["blink"]
    pause_starts = [s for p, s, e, _st in phones if p == SILENCE and s > 0.2 and e - s > 0.25]
    onsets = blink_onsets(duration_s, stats["rate_per_min"] * style.blink_rate, pause_starts, rng)
    add_blinks(curves, times, onsets, style, rng)
    add_gaze(curves, times, duration_s, style, rng)
    add_brows(curves, times, emphasis_times(phones, loudness_db, times, rng), style, rng)
    add_smile_squint(curves, style)
    return curves
