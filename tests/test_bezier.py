"""Cutting an F-curve Bezier segment in two (addon.core.bezier), checked against a direct
evaluation of the original cubic written out here: Bernstein polynomials, x(u) = frame solved by
bisection, with Blender's handle shortening (BKE_fcurve_correct_bezpart) done independently."""

import random

import pytest

from addon.core import bezier, keyreduce
from addon.core.keyreduce import BezierKey


def _cubic(p0, p1, p2, p3, u):
    m = 1.0 - u
    return m * m * m * p0 + 3 * m * m * u * p1 + 3 * m * u * u * p2 + u * u * u * p3


def _direct_value(a: BezierKey, b: BezierKey, frame: float) -> float:
    """The original segment's value at ``frame``, as Blender defines it, computed from scratch."""
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = a.co, a.right, b.left, b.co
    span = x3 - x0
    if x0 - x1 != 0 and abs(x0 - x1) > span:  # a handle may not reach past the other key
        fac = span / abs(x0 - x1)
        x1, y1 = x0 - fac * (x0 - x1), y0 - fac * (y0 - y1)
    if x3 - x2 != 0 and abs(x3 - x2) > span:
        fac = span / abs(x3 - x2)
        x2, y2 = x3 - fac * (x3 - x2), y3 - fac * (y3 - y2)
    lo, hi = 0.0, 1.0
    for _ in range(70):  # to below 1e-18 of the span
        mid = 0.5 * (lo + hi)
        if _cubic(x0, x1, x2, x3, mid) < frame:
            lo = mid
        else:
            hi = mid
    return _cubic(y0, y1, y2, y3, 0.5 * (lo + hi))


def _pieces_value(split: bezier.Split, frame: float) -> float:
    """The value of the two stored pieces at ``frame``, evaluated as Blender would (keyreduce)."""
    first = BezierKey(split.before[0], split.before[0], split.first_right)
    last = BezierKey(split.after[3], split.second_left, split.after[3])
    return keyreduce.evaluate([first, split.key, last], frame)


def _random_segment(rng: random.Random, reach: float = 0.8) -> tuple[BezierKey, BezierKey]:
    """Two keys whose facing handles reach up to ``reach`` of the span between them in time."""
    x0 = rng.uniform(-50, 400)
    x3 = x0 + rng.uniform(1.0, 12.0)
    y0, y3 = rng.uniform(0, 1), rng.uniform(0, 1)
    span = x3 - x0
    right = (x0 + rng.uniform(0, reach) * span, y0 + rng.uniform(-1, 1))
    left = (x3 - rng.uniform(0, reach) * span, y3 + rng.uniform(-1, 1))
    return BezierKey((x0, y0), (x0 - 1, y0), right), BezierKey((x3, y3), left, (x3 + 1, y3))


def _assert_same_curve(a, b, split):
    for i in range(1, 40):
        x = a.co[0] + (b.co[0] - a.co[0]) * i / 40
        assert _pieces_value(split, x) == pytest.approx(_direct_value(a, b, x), abs=1e-9)


def test_the_two_pieces_trace_the_original_curve():
    """Handles reaching up to 0.8 of the span (auto handles reach 0.39) always split exactly."""
    rng = random.Random(1)
    for _ in range(400):
        a, b = _random_segment(rng)
        frame = rng.uniform(a.co[0], b.co[0])
        split = bezier.split_segment(a, b, frame)
        assert split.key.co == (frame, pytest.approx(_direct_value(a, b, frame), abs=1e-9))
        assert bezier.evaluated_as_is(split.before) and bezier.evaluated_as_is(split.after)
        _assert_same_curve(a, b, split)


def test_handles_reaching_past_the_other_key_split_exactly_where_blender_keeps_the_pieces():
    """Handles Blender shortens (reaching past the other key) split the shortened curve; where a
    piece's handle would in turn be shortened, evaluated_as_is says so, and only there the
    stored pieces differ from the curve."""
    rng = random.Random(3)
    exact = 0
    for _ in range(400):
        a, b = _random_segment(rng, reach=2.5)
        split = bezier.split_segment(a, b, rng.uniform(a.co[0], b.co[0]))
        if bezier.evaluated_as_is(split.before) and bezier.evaluated_as_is(split.after):
            exact += 1
            _assert_same_curve(a, b, split)
        else:
            worst = max(abs(_pieces_value(split, x) - _direct_value(a, b, x))
                        for x in (a.co[0] + (b.co[0] - a.co[0]) * i / 40 for i in range(1, 40)))
            assert worst > 1e-9
    assert exact > 100


def test_the_cut_is_smooth_and_the_outer_handles_only_shorten():
    rng = random.Random(5)
    for _ in range(200):
        a, b = _random_segment(rng)
        split = bezier.split_segment(a, b, rng.uniform(a.co[0], b.co[0]))
        assert bezier.collinear(split.key)  # no kink at the new key
        for co, old, new in ((a.co, a.right, split.first_right), (b.co, b.left, split.second_left)):
            assert bezier.collinear(BezierKey(co, (2 * co[0] - old[0], 2 * co[1] - old[1]), new))
            assert abs(new[0] - co[0]) <= abs(old[0] - co[0]) + 1e-12


def test_pieces_of_blender_auto_clamped_curves_are_evaluated_as_stored():
    rng = random.Random(7)
    for _ in range(400):
        xs = sorted(rng.sample(range(0, 300), 6))
        keys = keyreduce.auto_clamped_handles(xs, [rng.random() for _ in xs])
        i = rng.randrange(5)
        split = bezier.split_segment(keys[i], keys[i + 1], rng.uniform(xs[i], xs[i + 1]))
        assert bezier.evaluated_as_is(split.before) and bezier.evaluated_as_is(split.after)
        _assert_same_curve(keys[i], keys[i + 1], split)


def test_value_at_matches_the_direct_evaluation():
    rng = random.Random(9)
    for _ in range(100):
        a, b = _random_segment(rng, reach=2.5)
        frame = rng.uniform(a.co[0], b.co[0])
        assert bezier.value_at(bezier.blender_polygon(a, b), frame) == pytest.approx(_direct_value(a, b, frame),
                                                                                    abs=1e-9)


def test_a_cut_outside_the_segment_is_refused():
    a, b = _random_segment(random.Random(0))
    for frame in (a.co[0], b.co[0], a.co[0] - 1):
        with pytest.raises(ValueError, match="strictly between"):
            bezier.split_segment(a, b, frame)


@pytest.mark.parametrize("types, smooth, expected", [
    (("AUTO_CLAMPED", "AUTO_CLAMPED"), True, ("ALIGNED", "ALIGNED")),
    (("AUTO", "AUTO"), True, ("ALIGNED", "ALIGNED")),
    (("VECTOR", "VECTOR"), False, ("FREE", "FREE")),
    (("VECTOR", "AUTO_CLAMPED"), True, ("ALIGNED", "ALIGNED")),
    (("FREE", "AUTO_CLAMPED"), True, ("FREE", "FREE")),
    (("ALIGNED", "ALIGNED"), True, ("ALIGNED", "ALIGNED")),
    (("FREE", "FREE"), False, ("FREE", "FREE")),
    (("ALIGNED", "FREE"), False, ("ALIGNED", "FREE")),
])
def test_held_handle_types(types, smooth, expected):
    co = (10.0, 0.5)
    key = BezierKey(co, (9.0, 0.4), (11.0, 0.6 if smooth else 0.2))
    assert bezier.collinear(key) == smooth
    assert bezier.held_handle_types(key, *types) == expected


def test_collinear_needs_opposite_directions():
    co = (10.0, 0.5)
    assert not bezier.collinear(BezierKey(co, (11.0, 0.6), (11.0, 0.6)))  # both on one side
    assert bezier.collinear(BezierKey(co, co, (11.0, 0.9)))  # a handle of no length


def test_handles_along_a_slope():
    assert bezier.handle_along((4.0, 0.5), 0.25, -2.0) == (2.0, 0.0)
    assert bezier.slope_of((4.0, 0.5), (2.0, 0.0)) == 0.25
    assert bezier.slope_of((4.0, 0.5), (4.0, 0.9)) == 0.0


def _stored_error(exact: bezier.Polygon, stored: bezier.Polygon) -> float:
    span = exact[3][0] - exact[0][0]
    frames = [exact[0][0] + span * i / 64 for i in range(1, 64)]
    return max(abs(bezier.value_at(stored, f) - bezier.value_at(exact, f)) for f in frames)


def test_stored_pieces_stay_closest_to_the_exact_curve_in_float32():
    """Far from frame 0 float32 rounds a handle's time by up to 3e-5 of a frame (at frame 1000);
    refitting the edge handle's height takes most of that error back out."""
    rng = random.Random(11)
    naive_worst = stored_worst = 0.0
    for _ in range(150):
        xs = [1000 + x for x in sorted(rng.sample(range(0, 120), 7))]
        keys = keyreduce.auto_clamped_handles(xs, [rng.random() for _ in xs])
        keys = [BezierKey(*((bezier.float32(x), bezier.float32(y)) for x, y in (k.co, k.left, k.right)))
                for k in keys]
        i = rng.randrange(6)
        if keys[i + 1].co[0] - keys[i].co[0] < 1:
            continue
        edge = keys[i].co[0] + 0.5
        split = bezier.split_segment(keys[i], keys[i + 1], edge)
        for piece, free in ((split.before, 2), (split.after, 1)):
            stored = bezier.stored_piece(piece, free)
            assert all(c == bezier.float32(c) for point in stored for c in point)
            assert stored[0] == piece[0] if free == 2 else stored[3] == piece[3]  # the old key stays put
            other, key = (1, stored[0]) if free == 2 else (2, stored[3])
            # The old key's handle keeps its direction (its handles stay aligned).
            assert bezier.slope_of(key, stored[other]) == pytest.approx(bezier.slope_of(key, piece[other]), abs=1e-5)
            naive = tuple((bezier.float32(x), bezier.float32(y)) for x, y in piece)
            naive_worst = max(naive_worst, _stored_error(piece, naive))
            stored_worst = max(stored_worst, _stored_error(piece, stored))
    # Keys with random values (steeper than speech): naive rounding 3.4e-5, refitted 5.9e-6.
    assert stored_worst < naive_worst / 4, (stored_worst, naive_worst)
    assert stored_worst < 1e-5


def test_stored_piece_needs_a_handle_to_refit():
    a, b = _random_segment(random.Random(0))
    with pytest.raises(ValueError, match="free must be 1 or 2"):
        bezier.stored_piece(bezier.blender_polygon(a, b), 0)
