"""Key reduction: fewer Bezier keys, every sample met within the stated tolerance."""

import math
import random

import pytest

from addon.core import keyreduce as kr


def _speech_like(n=240, seed=0):
    """Syllable-rate openings with closures, like a jawOpen curve at 24-30 fps."""
    rng = random.Random(seed)
    values, t = [], 0
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


@pytest.mark.parametrize("tolerance", [0.002, 0.01, 0.03])
@pytest.mark.parametrize("make", [_speech_like, _smooth_walk])
def test_every_sample_within_tolerance_and_fewer_keys(make, tolerance):
    values = make()
    idx = kr.reduce_keys(values, tolerance)
    assert idx[0] == 0 and idx[-1] == len(values) - 1
    assert idx == sorted(set(idx))
    assert kr.max_error(values, idx) <= tolerance
    assert len(idx) < len(values)


def test_smooth_curves_need_far_fewer_keys():
    values = _smooth_walk()
    assert len(kr.reduce_keys(values, 0.01)) < len(values) / 3


def test_constant_and_linear_curves_need_only_their_ends():
    assert kr.reduce_keys([0.3] * 50) == [0, 49]
    # A ramp under auto-clamped handles is not a straight line; it still needs few keys.
    ramp = [i / 99 for i in range(100)]
    assert len(kr.reduce_keys(ramp, 0.01)) <= 8


def test_kept_indices_and_extremes_are_keys():
    values = _speech_like()
    keep = [17, 101, 202]
    idx = kr.reduce_keys(values, 0.05, keep=keep)
    assert set(keep) <= set(idx)
    peak = max(range(len(values)), key=values.__getitem__)
    assert peak in idx  # the animator finds a key on the widest opening


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
