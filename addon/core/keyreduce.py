"""Fewer Bezier keys within a stated tolerance, so generated curves stay editable by hand.

The handle scheme is Blender's own: every key written by the add-on is a Bezier key with
``AUTO_CLAMPED`` handles on an F-curve with ``auto_smoothing = 'NONE'`` and constant
extrapolation. Blender then computes the handles itself (``BKE_nurb_handle_calc_ex`` and
``BKE_fcurve_handles_recalc_ex``); this module recomputes them the same way and evaluates
the curve exactly as Blender does (solve x(t) = frame on each cubic segment, then y(t)).

The claim, checked by the unit tests here and again in real Blender on the written F-curves:
at every sample frame the reduced curve is within ``tolerance`` of the sample (default 0.01
in shape-key value). Between sample frames auto-clamped handles never overshoot the
neighbouring keys' values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

DEFAULT_TOLERANCE = 0.01

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
        dxa, dya = x2 - x1, y2 - y1
        dxb, dyb = x3 - x2, y3 - y2
        len_a = dxa if dxa != 0.0 else 1.0
        len_b = dxb if dxb != 0.0 else 1.0
        tx = dxb / len_b + dxa / len_a
        ty = dyb / len_b + dya / len_a
        length = tx * _HANDLE_FACTOR
        if length == 0.0:
            keys.append(BezierKey((x2, y2), (x2, y2), (x2, y2)))
            continue
        len_a = min(len_a, 5.0 * len_b)
        len_b = min(len_b, 5.0 * len_a)
        la, lb = len_a / length, len_b / length
        hl = [x2 - tx * la, y2 - ty * la]
        hr = [x2 + tx * lb, y2 + ty * lb]
        if not (has_prev and has_next):
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
        keys.append(BezierKey((x2, y2), (hl[0], hl[1]), (hr[0], hr[1])))
    return keys


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


def _extrema(values: Sequence[float], tolerance: float) -> list[int]:
    """Indices of turning points whose swing exceeds the tolerance (where an animator keys)."""
    found: list[int] = []
    n = len(values)
    i = 1
    while i < n - 1:
        # Treat a flat run as one plateau.
        j = i
        while j < n - 1 and values[j + 1] == values[i]:
            j += 1
        if j >= n - 1:
            break
        left, here, right = values[i - 1], values[i], values[j + 1]
        if (here > left and here > right) or (here < left and here < right):
            swing = min(abs(here - left), abs(here - right))
            if swing > tolerance * 0.5:
                found.append(i if j == i else (i + j) // 2)
        i = j + 1
    return found


def reduce_keys(
    values: Sequence[float],
    tolerance: float = DEFAULT_TOLERANCE,
    *,
    keep: Sequence[int] = (),
) -> list[int]:
    """Sample indices to key so the Bezier curve through them is within ``tolerance``.

    ``values[i]`` is the sample at frame ``first_frame + i``. The result always holds the
    first and last index, every index in ``keep`` (pins), and the local extrema, then adds the
    worst-fitting sample of each segment until every sample is met within the tolerance.
    """
    n = len(values)
    if tolerance < 0 or math.isnan(tolerance):
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    if n <= 2:
        return list(range(n))
    chosen = {0, n - 1}
    chosen.update(i for i in keep if 0 <= i < n)
    chosen.update(_extrema(values, tolerance))
    while True:
        idx = sorted(chosen)
        keys = auto_clamped_handles(idx, [values[i] for i in idx])
        added = False
        for k in range(len(idx) - 1):
            a, b = idx[k], idx[k + 1]
            if b - a < 2:
                continue
            worst, worst_err = -1, tolerance
            ka, kb = keys[k], keys[k + 1]
            for i in range(a + 1, b):
                err = abs(_segment_value(ka, kb, float(i)) - values[i])
                if err > worst_err:
                    worst, worst_err = i, err
            if worst >= 0:
                chosen.add(worst)
                added = True
        if not added:
            return idx


def max_error(values: Sequence[float], indices: Sequence[int]) -> float:
    """The largest |curve - sample| over all samples for keys at ``indices``."""
    keys = auto_clamped_handles([float(i) for i in indices], [values[i] for i in indices])
    return max(abs(evaluate(keys, float(i)) - v) for i, v in enumerate(values))
