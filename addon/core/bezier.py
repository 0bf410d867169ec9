"""Cutting an F-curve's Bezier segment in two without changing the curve.

Blender's F-curve Bezier segment is a cubic parametric in 2D: the control polygon is the first
key, its right handle, the second key's left handle and the second key, with handles that reach
past the other key in time shortened first (``BKE_fcurve_correct_bezpart``). The value at a frame
comes from solving x(u) = frame, then y(u). Cutting that cubic at u with de Casteljau's
construction gives two cubics that together trace exactly the same curve, so a key can be put
at any frame of a segment, with handles, without the curve moving: the split key gets the two
inner handles, and the neighbours' handles facing it are shortened to match.

Regenerating a range of frames uses this to hold the curve at the range's edges
(``addon.blender.curves``). Everything here is plain Python, no bpy.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

from .keyreduce import BezierKey, blender_polygon, solve_t  # noqa: F401 - blender_polygon is part of this API

Point = tuple[float, float]
Polygon = tuple[Point, Point, Point, Point]

# Handle types Blender recomputes from the neighbouring keys on every update.
RECOMPUTED_HANDLE_TYPES = frozenset({"AUTO", "AUTO_CLAMPED", "VECTOR"})


def parameter_at(polygon: Polygon, frame: float) -> float:
    """The parameter u in [0, 1] where the polygon's cubic reaches ``frame`` in time."""
    (x0, _), (x1, _), (x2, _), (x3, _) = polygon
    return solve_t(frame, x0, x1, x2, x3)


def point_at(polygon: Polygon, u: float) -> Point:
    """The cubic's point at parameter u (de Casteljau, the way the split computes it)."""
    return _de_casteljau(polygon, u)[1][0]


def value_at(polygon: Polygon, frame: float) -> float:
    """The cubic's value at ``frame`` (within the polygon's span), as Blender evaluates it."""
    return point_at(polygon, parameter_at(polygon, frame))[1]


def _lerp(p: Point, q: Point, u: float) -> Point:
    return p[0] + u * (q[0] - p[0]), p[1] + u * (q[1] - p[1])


def _de_casteljau(polygon: Polygon, u: float) -> tuple[Polygon, Polygon]:
    p0, p1, p2, p3 = polygon
    a, b, c = _lerp(p0, p1, u), _lerp(p1, p2, u), _lerp(p2, p3, u)
    d, e = _lerp(a, b, u), _lerp(b, c, u)
    m = _lerp(d, e, u)
    return (p0, a, d, m), (m, e, c, p3)


@dataclass(frozen=True)
class Split:
    """One segment cut at a frame: ``before`` runs from the first key to the cut, ``after`` from
    the cut to the second key; each is a control polygon Blender evaluates as it is."""

    before: Polygon
    after: Polygon

    @property
    def key(self) -> BezierKey:
        """The key at the cut, with the two inner handles."""
        return BezierKey(self.before[3], self.before[2], self.after[1])

    @property
    def first_right(self) -> Point:
        """The first key's right handle, shortened."""
        return self.before[1]

    @property
    def second_left(self) -> Point:
        """The second key's left handle, shortened."""
        return self.after[2]


def split_segment(a: BezierKey, b: BezierKey, frame: float) -> Split:
    """Cut the Bezier segment from key ``a`` to key ``b`` at ``frame`` (strictly between them)."""
    if not a.co[0] < frame < b.co[0]:
        raise ValueError(f"frame {frame} must lie strictly between the keys at {a.co[0]} and {b.co[0]}")
    polygon = blender_polygon(a, b)
    before, after = _de_casteljau(polygon, parameter_at(polygon, frame))
    # x(u) = frame holds to 1e-12; the key sits on the frame exactly.
    cut = (float(frame), before[3][1])
    return Split((before[0], before[1], before[2], cut), (cut, after[1], after[2], after[3]))


def float32(value: float) -> float:
    """``value`` as Blender stores it (single precision)."""
    return struct.unpack("f", struct.pack("f", value))[0]


def stored_piece(piece: Polygon, free: int, samples: int = 32) -> Polygon:
    """The piece of a cut segment as Blender will store it, in float32, staying closest to the
    exact piece.

    Rounding a handle's time to float32 moves it by up to half a unit in the last place, which
    at frame 1000 is 3e-5 of a frame and moves a steep curve by ~1e-5. So the handle facing the
    other key keeps its direction (its key's handles stay collinear) and only rounds, and the
    height of handle ``free`` (1: the first key's, 2: the second key's) is refitted by least
    squares over the span, which takes most of the rounding error back out (about 5x).
    """
    if free not in (1, 2):
        raise ValueError(f"free must be 1 or 2 (a handle of the piece), not {free}")
    p0, p1, p2, p3 = ((float32(x), float32(y)) for x, y in piece)
    other = 3 - free
    key, handle = (p0, piece[1]) if other == 1 else (p3, piece[2])
    x = float32(handle[0])
    y = handle[1] if handle[0] == key[0] else key[1] + (handle[1] - key[1]) * (x - key[0]) / (handle[0] - key[0])
    fixed = (x, float32(y))
    trial = [p0, fixed, (float32(piece[2][0]), 0.0), p3] if other == 1 else [p0, (float32(piece[1][0]), 0.0), fixed, p3]
    numerator = denominator = 0.0
    span = piece[3][0] - piece[0][0]
    for i in range(1, samples):
        frame = piece[0][0] + span * i / samples
        u = parameter_at(tuple(trial), frame)
        m = 1.0 - u
        weight = 3 * m * m * u if free == 1 else 3 * m * u * u
        rest = point_at(tuple(trial), u)[1]  # the free handle's height is 0 in ``trial``
        numerator += weight * (value_at(piece, frame) - rest)
        denominator += weight * weight
    trial[free] = (trial[free][0], float32(numerator / denominator) if denominator else float32(piece[free][1]))
    return tuple(trial)


def evaluated_as_is(polygon: Polygon, slack: float = 1e-9) -> bool:
    """Whether Blender evaluates this polygon without shortening its handles (each handle's
    reach in time within the segment's span), so that a stored split traces the same curve."""
    (x0, _), (x1, _), (x2, _), (x3, _) = polygon
    span = x3 - x0
    return abs(x1 - x0) <= span * (1 + slack) and abs(x3 - x2) <= span * (1 + slack)


def collinear(key: BezierKey, tolerance: float = 1e-5) -> bool:
    """Whether the two handles point in opposite directions through the key (a smooth key).
    A handle of no length counts as collinear with anything."""
    lx, ly = key.co[0] - key.left[0], key.co[1] - key.left[1]
    rx, ry = key.right[0] - key.co[0], key.right[1] - key.co[1]
    left_len, right_len = math.hypot(lx, ly), math.hypot(rx, ry)
    if left_len == 0.0 or right_len == 0.0:
        return True
    cross = lx * ry - ly * rx
    return abs(cross) <= tolerance * left_len * right_len and lx * rx + ly * ry > 0.0


def held_handle_types(key: BezierKey, left_type: str, right_type: str) -> tuple[str, str]:
    """Handle types that keep ``key``'s handles where they are when Blender recalculates handles.

    Blender recomputes AUTO, AUTO_CLAMPED and VECTOR handles from the neighbouring keys, so a
    key whose neighbour changes would move. A key with such a handle becomes ALIGNED on both
    sides when its handles are collinear (auto handles always are: it stays a smooth key the
    animator can edit as one), else FREE on both sides. FREE and ALIGNED handles stay as they are.
    """
    if left_type not in RECOMPUTED_HANDLE_TYPES and right_type not in RECOMPUTED_HANDLE_TYPES:
        return left_type, right_type
    if "FREE" not in (left_type, right_type) and collinear(key):
        return "ALIGNED", "ALIGNED"
    return "FREE", "FREE"


def handle_along(co: Point, slope: float, reach: float) -> Point:
    """A handle from ``co`` along ``slope`` (value per frame) reaching about ``reach`` frames in
    time (negative: a left handle). Its time is one float32 can hold and its value is taken on
    the line at that time, so its direction survives storage (far from frame 0 a rounded time
    alone would turn a short handle by 1e-3)."""
    x = float32(co[0] + reach)
    return x, co[1] + slope * (x - co[0])


def slope_of(co: Point, handle: Point) -> float:
    """The slope (value per frame) of a handle; a handle of no reach in time counts as flat."""
    dx = handle[0] - co[0]
    return 0.0 if dx == 0.0 else (handle[1] - co[1]) / dx
