"""Few, well-placed Bezier keys within a stated tolerance, so generated curves stay editable by hand.

The handle scheme is Blender's own: every key written by the add-on is a Bezier key with
``AUTO_CLAMPED`` handles on an F-curve with ``auto_smoothing = 'NONE'`` and constant
extrapolation. Blender then computes the handles itself (``BKE_nurb_handle_calc_ex`` and
``BKE_fcurve_handles_recalc_ex``); this module recomputes them the same way and evaluates
the curve exactly as Blender does (solve x(t) = frame on each cubic segment, then y(t)).

How keys are placed (``reduce_keys``), as an animator keys a performance:

1. Turning points: the curve's peaks and troughs whose swing is more than the tolerance band
   (twice the tolerance), found with hysteresis (a peak counts once the curve has fallen that far
   below it), so every jaw opening, every lip closure and every blink is keyed at its exact
   generated value and frame. A wiggle that fits inside the band is not a turning point.
2. While a segment misses a sample by more than the tolerance, its worst sample gets a key. That
   key's value moves the curve there only as far as it must (to within ``PULL`` of the tolerance
   from the sample) and stays between the segment's two key values where that allows, so
   between two turning points the keys stay monotone and an auto-clamped Bezier through them
   cannot wobble: the curve follows the performance, not the sampler's frame-to-frame shake.
3. A new key re-evaluates only the segments whose shape it changes (its own two and the two
   beyond its neighbours, whose auto handles turn); the cubic x(t) = frame is solved once per
   segment shape (cached), so each sample costs a few multiplications, and 52 channels x 5,000
   frames reduce in well under a second of pure Python.

The claim, checked by the unit tests here and again in real Blender on the written F-curves:
at every sample frame the reduced curve is within ``tolerance`` of the sample (default 0.02
in shape-key value). Between sample frames auto-clamped handles never overshoot the
neighbouring keys' values. ``tolerance_for`` maps the panel's Simplify amount to a tolerance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

# Blender's auto-handle length factor (curve.cc: ``len *= 2.5614f``).
_HANDLE_FACTOR = 2.5614


@dataclass(frozen=True)
class BezierKey:
    """One key and its two handles, all as (frame, value)."""

    co: tuple[float, float]
    left: tuple[float, float]
    right: tuple[float, float]


def auto_clamped_handles(xs: Sequence[float], ys: Sequence[float]) -> list[BezierKey]:
    """The keys Blender makes from points (xs increasing) with AUTO_CLAMPED handles.

    Follows ``calchandleNurb_intern`` for F-curves with ``auto_smoothing = 'NONE'``, then the
    ease-in/out of ``BKE_fcurve_handles_recalc_ex``: the first and last keys get flat handles
    under constant extrapolation.
    """
    n = len(xs)
    if n != len(ys):
        raise ValueError("xs and ys differ in length")
    keys: list[BezierKey] = []
    for i in range(n):
        x2, y2 = float(xs[i]), float(ys[i])
        if n == 1:
            keys.append(BezierKey((x2, y2), (x2 - 1.0, y2), (x2 + 1.0, y2)))
            continue
        has_prev, has_next = i > 0, i < n - 1
        if has_prev:
            x1, y1 = float(xs[i - 1]), float(ys[i - 1])
        if has_next:
            x3, y3 = float(xs[i + 1]), float(ys[i + 1])
        if not has_prev:  # mirror the next key through this one
            x1, y1 = 2.0 * x2 - x3, 2.0 * y2 - y3
        if not has_next:
            x3, y3 = 2.0 * x2 - x1, 2.0 * y2 - y1
        hl, hr = _handle_pair(x1, y1, x2, y2, x3, y3, has_prev and has_next)
        keys.append(BezierKey((x2, y2), hl, hr))
    return keys


def _handle_pair(x1: float, y1: float, x2: float, y2: float, x3: float, y3: float, interior: bool):
    """The auto-clamped (left, right) handles of the key (x2, y2) between (x1, y1) and (x3, y3);
    not ``interior``: an end key (the missing neighbour mirrored), whose handles are flat."""
    dxa, dya = x2 - x1, y2 - y1
    dxb, dyb = x3 - x2, y3 - y2
    len_a = dxa if dxa != 0.0 else 1.0
    len_b = dxb if dxb != 0.0 else 1.0
    tx = dxb / len_b + dxa / len_a
    ty = dyb / len_b + dya / len_a
    length = tx * _HANDLE_FACTOR
    if length == 0.0:
        return (x2, y2), (x2, y2)
    len_a = min(len_a, 5.0 * len_b)
    len_b = min(len_b, 5.0 * len_a)
    la, lb = len_a / length, len_b / length
    hl = [x2 - tx * la, y2 - ty * la]
    hr = [x2 + tx * lb, y2 + ty * lb]
    if not interior:
        # First or last key: flat handles (constant extrapolation ease in/out).
        hl[1] = hr[1] = y2
    else:
        ydiff1, ydiff2 = y1 - y2, y3 - y2
        if (ydiff1 <= 0.0 and ydiff2 <= 0.0) or (ydiff1 >= 0.0 and ydiff2 >= 0.0):
            hl[1] = hr[1] = y2  # a local extremum stays flat
        else:
            left_violate = right_violate = False
            if ydiff1 <= 0.0:
                if y1 > hl[1]:
                    hl[1], left_violate = y1, True
                if y3 < hr[1]:
                    hr[1], right_violate = y3, True
            else:
                if y1 < hl[1]:
                    hl[1], left_violate = y1, True
                if y3 > hr[1]:
                    hr[1], right_violate = y3, True
            if left_violate or right_violate:
                # Keep the handles aligned through the key (Blender's "align left handle").
                h1_x, h2_x = hl[0] - x2, x2 - hr[0]
                if left_violate:
                    hr[1] = y2 + ((y2 - hl[1]) / h1_x) * h2_x
                else:
                    hl[1] = y2 + ((y2 - hr[1]) / h2_x) * h1_x
    return (hl[0], hl[1]), (hr[0], hr[1])


def correct_bezpart(x0, x1, x2, x3):
    """Blender's BKE_fcurve_correct_bezpart: shorten handles that would make x(t) fold back."""
    h1 = x0 - x1
    h2 = x3 - x2
    span = x3 - x0
    len1, len2 = abs(h1), abs(h2)
    if len1 + len2 == 0.0 or len1 + len2 <= span:
        return x1, x2, 1.0, 1.0
    fac1 = span / len1 if len1 > span else 1.0
    fac2 = span / len2 if len2 > span else 1.0
    return x0 - fac1 * h1, x3 - fac2 * h2, fac1, fac2


def solve_t(x: float, x0: float, x1: float, x2: float, x3: float) -> float:
    """The parameter t in [0, 1] where the segment's x(t) = x (x(t) is monotonic here)."""
    lo, hi = 0.0, 1.0
    t = (x - x0) / (x3 - x0) if x3 != x0 else 0.0
    for _ in range(60):
        mt = 1.0 - t
        xt = mt * mt * mt * x0 + 3 * mt * mt * t * x1 + 3 * mt * t * t * x2 + t * t * t * x3
        err = xt - x
        if abs(err) < 1e-12:
            return t
        if err > 0:
            hi = t
        else:
            lo = t
        dx = 3 * mt * mt * (x1 - x0) + 6 * mt * t * (x2 - x1) + 3 * t * t * (x3 - x2)
        nt = t - err / dx if dx > 1e-12 else -1.0
        t = nt if lo < nt < hi else 0.5 * (lo + hi)
    return t


def blender_polygon(a: BezierKey, b: BezierKey):
    """The control polygon Blender evaluates between keys ``a`` and ``b`` (a before b)."""
    x0, y0 = a.co
    x3, y3 = b.co
    x1, y1 = a.right
    x2, y2 = b.left
    cx1, cx2, f1, f2 = correct_bezpart(x0, x1, x2, x3)
    if f1 != 1.0:
        y1 = y0 - f1 * (y0 - y1)
    if f2 != 1.0:
        y2 = y3 - f2 * (y3 - y2)
    return (x0, y0), (cx1, y1), (cx2, y2), (x3, y3)


def _segment_value(a: BezierKey, b: BezierKey, x: float) -> float:
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = blender_polygon(a, b)
    t = solve_t(x, x0, x1, x2, x3)
    mt = 1.0 - t
    return mt * mt * mt * y0 + 3 * mt * mt * t * y1 + 3 * mt * t * t * y2 + t * t * t * y3


def evaluate(keys: Sequence[BezierKey], x: float) -> float:
    """The curve's value at frame x (constant extrapolation outside the keys)."""
    if not keys:
        raise ValueError("no keys")
    if x <= keys[0].co[0]:
        return keys[0].co[1]
    if x >= keys[-1].co[0]:
        return keys[-1].co[1]
    lo, hi = 0, len(keys) - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if keys[mid].co[0] <= x:
            lo = mid
        else:
            hi = mid
    a, b = keys[lo], keys[hi]
    if x == a.co[0]:
        return a.co[1]
    return _segment_value(a, b, x)


DEFAULT_SIMPLIFY = 0.5
_SIMPLIFY_LOW = 0.002    # tolerance at Simplify 0
_SIMPLIFY_RANGE = 100.0  # Simplify 1 is this many times looser (0.2)
# A key added to meet the tolerance lies within this share of it from its sample.
PULL = 0.8


def tolerance_for(simplify: float) -> float:
    """The tolerance of a Simplify amount in [0, 1]: 0.002 at 0, 0.02 at 0.5, 0.2 at 1 (geometric:
    each step of the slider trades keys for accuracy by the same factor)."""
    if not 0.0 <= simplify <= 1.0:
        raise ValueError(f"simplify must be within 0-1, got {simplify}")
    return _SIMPLIFY_LOW * _SIMPLIFY_RANGE ** simplify


# The default: 0.02 of a shape key's range, 0.8 mm of lip gap on Apple's ARKit reference face
# (jawOpen = 1 opens it 40.2 mm), with every turning point keyed exactly.
DEFAULT_TOLERANCE = tolerance_for(DEFAULT_SIMPLIFY)


@dataclass(frozen=True)
class Keys:
    """Reduced keys: sample indices (increasing) and the value keyed at each."""

    frames: list[int]
    values: list[float]


def turning_points(values: Sequence[float], threshold: float) -> list[int]:
    """Indices of the peaks and troughs whose swing is more than ``threshold`` on both sides.

    Hysteresis: a peak is confirmed once the curve falls more than ``threshold`` below it (a
    trough once it rises more than that above it), so a wiggle smaller than the threshold never
    makes one; the first frame of a flat extreme is the one returned. The ends are not included.
    """
    n = len(values)
    found: list[int] = []
    if n < 3:
        return found
    hi = lo = 0
    i = 1
    # Until the curve has moved more than the threshold, the direction is unknown.
    while i < n:
        x = values[i]
        if x > values[hi]:
            hi = i
        elif x < values[lo]:
            lo = i
        if values[hi] - values[lo] > threshold:
            break
        i += 1
    else:
        return found
    rising = hi > lo
    if rising and lo > 0:
        found.append(lo)
    elif not rising and hi > 0:
        found.append(hi)
    cand = hi if rising else lo
    peak = values[cand]
    for i in range(i + 1, n):
        x = values[i]
        if rising:
            if x > peak:
                cand, peak = i, x
            elif peak - x > threshold:
                found.append(cand)
                rising, cand, peak = False, i, x
        else:
            if x < peak:
                cand, peak = i, x
            elif x - peak > threshold:
                found.append(cand)
                rising, cand, peak = True, i, x
    return found


# Bernstein weights of y0..y3 at each whole frame inside a segment, by segment shape:
# (span, right-handle reach of the first key, left-handle reach of the second).
_WEIGHTS: dict[tuple[float, float, float], list[tuple[float, float, float, float]]] = {}
_WEIGHTS_LIMIT = 20000


def _weights(span: int, reach1: float, reach2: float) -> list[tuple[float, float, float, float]]:
    """The Bernstein weights of (y0, y1, y2, y3) at frames 1 .. span-1 of a segment from frame 0 to
    ``span`` whose handles reach ``reach1`` and ``reach2`` frames in (solved once per shape)."""
    shape = (span, reach1, reach2)
    w = _WEIGHTS.get(shape)
    if w is not None:
        return w
    if len(_WEIGHTS) >= _WEIGHTS_LIMIT:
        _WEIGHTS.clear()
    # x(t) = c1 t + c2 t^2 + c3 t^3 with control points 0, reach1, span - reach2, span: increasing
    # (the handles do not cross), so Newton's method from the previous frame's t converges fast.
    x1, x2 = reach1, span - reach2
    c1, c2, c3 = 3.0 * x1, 3.0 * x2 - 6.0 * x1, span - 3.0 * x2 + 3.0 * x1
    w = []
    t, step = 0.0, (1.0 / c1 if c1 > 0.0 else 0.0)  # dt per frame at t = 0
    for k in range(1, span):
        t += step  # the tangent's guess from the previous frame
        for _ in range(50):
            f = ((c3 * t + c2) * t + c1) * t - k
            d = (3.0 * c3 * t + 2.0 * c2) * t + c1
            if -1e-11 < f < 1e-11:
                break
            nt = t - f / d if d > 0.0 else -1.0
            if not 0.0 < nt < 1.0:  # never for these shapes; the exact solver decides
                t = solve_t(float(k), 0.0, x1, x2, float(span))
                d = (3.0 * c3 * t + 2.0 * c2) * t + c1
                break
            t = nt
        step = 1.0 / d if d > 0.0 else 0.0
        mt = 1.0 - t
        w.append((mt * mt * mt, 3.0 * mt * mt * t, 3.0 * mt * t * t, t * t * t))
    _WEIGHTS[shape] = w
    return w


def reduce_keys(
    values: Sequence[float],
    tolerance: float = DEFAULT_TOLERANCE,
    *,
    keep: Sequence[int] = (),
) -> Keys:
    """Keys so the Bezier curve through them is within ``tolerance`` of ``values`` at every sample.

    ``values[i]`` is the sample at frame ``first_frame + i``. The keys always hold the first and
    last index, every index in ``keep`` (pins) and the turning points (``turning_points`` at
    twice the tolerance: swings that do not fit in the tolerance band), each with its sample
    value. Then, while a segment misses a sample by more than the tolerance, its worst sample
    gets a key whose value moves the curve there only as far as it must, to within PULL x
    tolerance of the sample, and stays between the segment's two key values where that allows:
    so a key added between two turning points keeps the curve monotone, and the curve follows
    the performance without the sampler's wobble.
    """
    n = len(values)
    if tolerance < 0 or math.isnan(tolerance):
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    v = [float(x) for x in values]
    if n <= 2:
        return Keys(list(range(n)), v)
    anchors = sorted({0, n - 1, *turning_points(v, 2.0 * tolerance), *(i for i in keep if 0 <= i < n)})
    key_value = {i: v[i] for i in anchors}
    # The keyed frames as a linked list, and each key's handles (reach and height, left and right)
    # until a new neighbour changes them.
    nxt = [-1] * n
    prv = [-1] * n
    for a, b in zip(anchors, anchors[1:]):
        nxt[a], prv[b] = b, a
    known: dict[int, tuple[float, float, float, float]] = {}
    pull = PULL * tolerance

    def handles(i: int) -> tuple[float, float, float, float]:
        h = known.get(i)
        if h is None:
            p, q = prv[i], nxt[i]
            x2, y2 = float(i), key_value[i]
            if p >= 0:
                x1, y1 = float(p), key_value[p]
            if q >= 0:
                x3, y3 = float(q), key_value[q]
            if p < 0:
                x1, y1 = 2.0 * x2 - x3, 2.0 * y2 - y3
            if q < 0:
                x3, y3 = 2.0 * x2 - x1, 2.0 * y2 - y1
            hl, hr = _handle_pair(x1, y1, x2, y2, x3, y3, p >= 0 and q >= 0)
            h = known[i] = (x2 - hl[0], hl[1], hr[0] - x2, hr[1])
        return h

    stack = anchors[:-1]
    while stack:
        a = stack.pop()
        b = nxt[a]
        span = b - a
        if span < 2:
            continue
        _, _, reach1, y1 = handles(a)
        reach2, y2, _, _ = handles(b)
        y0, y3 = key_value[a], key_value[b]
        seg = v[a + 1:b]
        low, high = min(y0, y1, y2, y3), max(y0, y1, y2, y3)
        if max(seg) - low <= tolerance and high - min(seg) <= tolerance:
            continue  # the curve stays within [low, high]: within the tolerance of every sample
        if reach1 + reach2 > span:  # Blender would shorten the handles (never for auto handles)
            ka = BezierKey((float(a), y0), (0.0, 0.0), (a + reach1, y1))
            kb = BezierKey((float(b), y3), (b - reach2, y2), (0.0, 0.0))
            curve = [_segment_value(ka, kb, float(a + k)) for k in range(1, span)]
            errs = [abs(c - x) for c, x in zip(curve, seg)]
        else:
            weights = _weights(span, reach1, reach2)
            errs = [abs(w0 * y0 + w1 * y1 + w2 * y2 + w3 * y3 - x) for (w0, w1, w2, w3), x in zip(weights, seg)]
        worst = max(errs)
        if worst <= tolerance:
            continue
        k = errs.index(worst)
        m, x = a + 1 + k, seg[k]
        if reach1 + reach2 <= span:
            w0, w1, w2, w3 = weights[k]
            here = w0 * y0 + w1 * y1 + w2 * y2 + w3 * y3
        else:
            here = curve[k]
        value = min(max(here, x - pull), x + pull)
        low, high = (y0, y3) if y0 <= y3 else (y3, y0)
        if low <= x + pull and high >= x - pull:
            value = min(max(value, low), high)
        key_value[m] = value
        nxt[a], prv[m], nxt[m], prv[b] = m, a, b, m
        known.pop(a, None)
        known.pop(b, None)
        # The new key changes its neighbours' handles, and so the segments on their far sides.
        stack.extend(s for s in (prv[a], a, m, b) if s >= 0 and nxt[s] >= 0)
    frames = sorted(key_value)
    return Keys(frames, [key_value[i] for i in frames])


def max_error(values: Sequence[float], keys: Keys) -> float:
    """The largest |curve - sample| over all samples for ``keys``."""
    curve = auto_clamped_handles([float(i) for i in keys.frames], keys.values)
    return max(abs(evaluate(curve, float(i)) - v) for i, v in enumerate(values))
