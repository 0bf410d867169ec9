"""Key reduction: few Bezier keys on the turning points, every sample met within the stated
tolerance, and no wobble between the keys."""

import math
import random

import pytest

from addon.core import keyreduce as kr


def _speech_like(n=240, seed=0):
    """Syllable-rate openings with closures, like a jawOpen curve at 24-30 fps."""
    rng = random.Random(seed)
    values = []
    while len(values) < n:
        width, peak = rng.randint(3, 9), rng.uniform(0.1, 0.9)
        values += [peak * math.sin(math.pi * i / width) ** 2 for i in range(width)]
        values += [0.0] * rng.choice((0, 0, 1, 3))
    return values[:n]


def _smooth_walk(n=300, seed=1):
    rng = random.Random(seed)
    x, walk = 0.0, []
    for _ in range(n):
        x += rng.gauss(0, 0.05)
        walk.append(x)
    smooth = [sum(walk[max(0, i - 3):i + 4]) / len(walk[max(0, i - 3):i + 4]) for i in range(n)]
    lo, hi = min(smooth), max(smooth)
    return [(v - lo) / (hi - lo) for v in smooth]


def _wobbly(n=300, seed=2, amplitude=0.006):
    """A slow performance plus frame-to-frame sampler shake smaller than the tolerance."""
    rng = random.Random(seed)
    return [0.4 + 0.3 * math.sin(i / 15.0) + rng.uniform(-amplitude, amplitude) for i in range(n)]


def _written(values, keys):
    curve = kr.auto_clamped_handles([float(i) for i in keys.frames], keys.values)
    return [kr.evaluate(curve, float(i)) for i in range(len(values))]


def _jitter(values):
    return sum(abs(values[i - 1] - 2 * values[i] + values[i + 1]) for i in range(1, len(values) - 1)) / (len(values) - 2)


@pytest.mark.parametrize("tolerance", [0.002, 0.01, 0.03])
@pytest.mark.parametrize("make", [_speech_like, _smooth_walk, _wobbly])
def test_every_sample_within_tolerance_and_fewer_keys(make, tolerance):
    values = make()
    keys = kr.reduce_keys(values, tolerance)
    assert keys.frames[0] == 0 and keys.frames[-1] == len(values) - 1
    assert keys.frames == sorted(set(keys.frames)) and len(keys.values) == len(keys.frames)
    assert kr.max_error(values, keys) <= tolerance
    assert len(keys.frames) < len(values)


def test_smooth_curves_need_far_fewer_keys():
    values = _smooth_walk()
    assert len(kr.reduce_keys(values, 0.01).frames) < len(values) / 3


def test_constant_and_linear_curves_need_only_their_ends():
    assert kr.reduce_keys([0.3] * 50).frames == [0, 49]
    # A ramp under auto-clamped handles is not a straight line; it still needs few keys.
    ramp = [i / 99 for i in range(100)]
    assert len(kr.reduce_keys(ramp, 0.01).frames) <= 8


def test_turning_points_ignore_wiggles_smaller_than_the_threshold():
    values = [0.0, 0.5, 0.49, 0.5, 1.0, 0.995, 1.0, 0.2, 0.21, 0.0, 0.0, 0.6]
    assert kr.turning_points(values, 0.05) == [4, 9]  # the first frame of each flat extreme
    assert kr.turning_points(values, 0.0) == [1, 2, 4, 5, 6, 7, 8, 9]
    assert kr.turning_points([0.0, 0.01, 0.0, 0.01], 0.05) == []


def test_peaks_closures_and_pins_are_keyed_exactly():
    values = _speech_like()
    keep = [17, 101, 202]
    keys = kr.reduce_keys(values, 0.05, keep=keep)
    keyed = dict(zip(keys.frames, keys.values))
    for i in keep:
        assert keyed[i] == values[i]
    peak = max(range(len(values)), key=values.__getitem__)
    assert keyed[peak] == values[peak]  # the animator finds a key on the widest opening
    # Every closure (the mouth shut between two openings, one frame or longer) keeps its exact 0.
    closures = [i for i in range(1, len(values) - 1) if values[i] == 0.0 and values[i - 1] > 0.05]
    assert closures
    assert all(keyed.get(i) == 0.0 for i in closures)
    written = _written(values, keys)
    assert all(abs(written[i]) <= 1e-12 for i in closures)


def test_sub_tolerance_wobble_is_not_keyed_and_not_drawn():
    """Sampler shake within the tolerance: keys only where the slow performance needs them, and
    the written curve is monotone between its turning points (no frame-to-frame wobble)."""
    values = _wobbly()
    keys = kr.reduce_keys(values, 0.02)
    assert len(keys.frames) <= len(values) / 10
    written = _written(values, keys)
    assert _jitter(written) < _jitter(values) / 5
    turns = [0, *kr.turning_points(written, 0.0), len(written) - 1]
    assert len(turns) == 2 + 6  # the ends and the sine's three peaks and three troughs, not the shake
    for a, b in zip(turns, turns[1:]):
        run = written[a:b + 1]
        assert run == sorted(run) or run == sorted(run, reverse=True)


def test_keys_between_turning_points_stay_monotone():
    values = _speech_like(seed=4)
    rng = random.Random(5)
    noisy = [min(1.0, max(0.0, v + rng.uniform(-0.004, 0.004))) for v in values]
    keys = kr.reduce_keys(noisy, 0.01)
    turns = set(kr.turning_points(noisy, 0.02)) | {0, len(noisy) - 1}
    marks = [j for j, f in enumerate(keys.frames) if f in turns]
    for a, b in zip(marks, marks[1:]):
        run = keys.values[a:b + 1]
        assert run == sorted(run) or run == sorted(run, reverse=True), keys.frames[a:b + 1]


def test_the_cached_segment_weights_are_blenders_solve():
    for span, reach1, reach2 in ((7, 7 / 2.5614, 7 / 2.5614), (40, 5 / 2.5614, 40 / 2.5614), (3, 1.0, 0.2)):
        weights = kr._weights(span, reach1, reach2)
        for k, w in enumerate(weights, 1):
            t = kr.solve_t(float(k), 0.0, reach1, span - reach2, float(span))
            mt = 1 - t
            assert w == pytest.approx((mt ** 3, 3 * mt * mt * t, 3 * mt * t * t, t ** 3), abs=1e-10)


def test_simplify_maps_to_a_tolerance():
    assert kr.tolerance_for(0.0) == pytest.approx(0.002)
    assert kr.tolerance_for(kr.DEFAULT_SIMPLIFY) == pytest.approx(kr.DEFAULT_TOLERANCE) == pytest.approx(0.02)
    assert kr.tolerance_for(1.0) == pytest.approx(0.2)
    values = _speech_like(600, seed=6)
    counts = [len(kr.reduce_keys(values, kr.tolerance_for(s)).frames) for s in (0.0, 0.25, 0.5, 0.75, 1.0)]
    assert counts == sorted(counts, reverse=True) and counts[0] > 2 * counts[-1]
    with pytest.raises(ValueError, match="simplify"):
        kr.tolerance_for(1.5)


def test_zero_tolerance_keys_every_frame_that_matters():
    values = _speech_like(60)
    assert kr.max_error(values, kr.reduce_keys(values, 0.0)) == 0.0


def test_bad_tolerance_is_refused():
    with pytest.raises(ValueError, match="tolerance"):
        kr.reduce_keys([0.0, 1.0, 0.0], -0.1)


def test_handles_follow_blenders_auto_clamped_rules():
    keys = kr.auto_clamped_handles([0, 10, 20, 30], [0.0, 1.0, 0.5, 0.0])
    first, peak, middle, last = keys
    # First and last keys are flat (constant extrapolation); an extremum is flat.
    assert first.left[1] == first.right[1] == 0.0
    assert last.left[1] == last.right[1] == 0.0
    assert peak.left[1] == peak.right[1] == 1.0
    # Handle length: 2 / 5.1228 of the neighbouring interval, and the handles are aligned.
    assert middle.right[0] - 20 == pytest.approx(10 * 2 / (2 * 2.5614))
    slope_l = (middle.co[1] - middle.left[1]) / (middle.co[0] - middle.left[0])
    slope_r = (middle.right[1] - middle.co[1]) / (middle.right[0] - middle.co[0])
    assert slope_l == pytest.approx(slope_r)
    # Clamped: no handle goes past a neighbour's value.
    assert 0.0 <= middle.right[1] <= 0.5 <= middle.left[1] <= 1.0


def test_evaluate_passes_through_keys_and_holds_outside():
    keys = kr.auto_clamped_handles([2, 5, 9], [0.2, 0.8, 0.1])
    for k in keys:
        assert kr.evaluate(keys, k.co[0]) == pytest.approx(k.co[1])
    assert kr.evaluate(keys, -5) == 0.2 and kr.evaluate(keys, 50) == 0.1
    # Auto-clamped: no overshoot between keys.
    samples = [kr.evaluate(keys, 2 + i / 10) for i in range(71)]
    assert min(samples) >= 0.1 - 1e-9 and max(samples) <= 0.8 + 1e-9
