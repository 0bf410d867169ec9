"""Writing shape-key F-curves in real Blender: action/slot/channelbag handling per version, bulk
writes, key reduction within the stated tolerance (evaluated by Blender), pins and keys outside
the range left exactly as they were."""

import math
import random

import bpy
import pytest

from addon.blender import compat, curves
from addon.core import keyreduce
from tests.blender.helpers import demo_head, key_state, new_scene


def _speech_like(n, seed=0):
    rng = random.Random(seed)
    values = []
    while len(values) < n:
        width, peak = rng.randint(3, 9), rng.uniform(0.1, 0.9)
        values += [peak * math.sin(math.pi * i / width) ** 2 for i in range(width)] + [0.0] * rng.choice((0, 1, 3))
    return values[:n]


@pytest.fixture
def head():
    new_scene(24)
    return demo_head()


def test_creates_action_slot_and_curve(head):
    key = head.data.shape_keys
    assert key.animation_data is None
    fc = curves.ensure_fcurve(key, "jawOpen")
    action = key.animation_data.action
    assert fc.data_path == 'key_blocks["jawOpen"].value'
    if compat.SLOTTED_ACTIONS:
        slot = key.animation_data.action_slot
        assert slot is not None and slot.target_id_type == "KEY"
        assert compat.fcurves_of(action, key).find(fc.data_path) == fc
    else:
        assert action.fcurves.find(fc.data_path) == fc
    if bpy.app.version >= (5, 0, 0):
        assert not hasattr(action, "fcurves")
    # Reused, not duplicated.
    assert curves.ensure_fcurve(key, "jawOpen") == fc
    assert curves.find_fcurve(key, "jawOpen") == fc


@pytest.mark.parametrize("tolerance", [0.005, 0.01, 0.03])
def test_reduced_keys_meet_the_tolerance_in_blender(head, tolerance):
    key = head.data.shape_keys
    values = _speech_like(150)
    fc = curves.ensure_fcurve(key, "jawOpen")
    written = curves.write_range(fc, 20, values, tolerance, keep_pins=True)
    assert written == len(fc.keyframe_points) < len(values)
    worst = max(abs(fc.evaluate(20 + i) - v) for i, v in enumerate(values))
    assert worst <= tolerance + 1e-6
    assert all(kp.type == "GENERATED" and kp.handle_left_type == "AUTO_CLAMPED" and kp.interpolation == "BEZIER"
               for kp in fc.keyframe_points)
    # The reducer's model of Blender's curve is what Blender draws (so no extra keys were needed).
    model = keyreduce.auto_clamped_handles([kp.co[0] for kp in fc.keyframe_points],
                                          [kp.co[1] for kp in fc.keyframe_points])
    assert max(abs(fc.evaluate(20 + i / 4) - keyreduce.evaluate(model, 20 + i / 4)) for i in range(600)) < 1e-5


def test_closures_are_crisp_and_the_sampler_shake_is_not_drawn(head):
    """Blender's own curve: every closure (the mouth shut between openings) evaluates to exactly
    its generated value, and sub-tolerance frame-to-frame shake leaves no wobble: between the
    written curve's turning points it is monotone."""
    rng = random.Random(11)
    values = [max(0.0, v + rng.uniform(-0.005, 0.005)) if v > 0.0 else 0.0 for v in _speech_like(300, seed=2)]
    fc = curves.ensure_fcurve(head.data.shape_keys, "jawOpen")
    curves.write_range(fc, 1, values, 0.02, keep_pins=True)
    drawn = [fc.evaluate(1 + i) for i in range(len(values))]
    assert max(abs(d - v) for d, v in zip(drawn, values)) <= 0.02 + 1e-6
    closures = [i for i in range(1, len(values) - 1) if values[i] == 0.0 and values[i - 1] > 0.1]
    assert len(closures) > 10 and all(abs(drawn[i]) <= 1e-7 for i in closures)
    wiggles = keyreduce.turning_points(drawn, 0.0)
    assert len(wiggles) <= len(keyreduce.turning_points(values, 0.02)) + 2
    keys = {round(kp.co[0]) - 1 for kp in fc.keyframe_points}
    assert all(i in keys or drawn[i] >= max(drawn[i - 1], drawn[i + 1]) - 1e-9
               or drawn[i] <= min(drawn[i - 1], drawn[i + 1]) + 1e-9 for i in wiggles)


def test_a_pin_whose_value_the_generated_curve_misses_is_still_met_within_tolerance(head):
    """The reducer models pins at the generated value with auto handles; Blender draws the
    animator's value and handles. The check in Blender around each pin keys what that needs."""
    fc = curves.ensure_fcurve(head.data.shape_keys, "mouthFunnel")
    kp = fc.keyframe_points.insert(40, 0.75, keyframe_type="KEYFRAME")
    kp.handle_left_type = kp.handle_right_type = "VECTOR"
    fc.update()
    values = [0.5 + 0.3 * math.sin(i / 12.0) for i in range(60)]  # frames 20..79: slow, few keys
    curves.write_range(fc, 20, values, 0.03, keep_pins=True)
    assert _key_at(fc, 40).co[1] == pytest.approx(0.75) and _key_at(fc, 40).type == "KEYFRAME"
    assert max(abs(fc.evaluate(20 + i) - v) for i, v in enumerate(values) if i != 20) <= 0.03 + 1e-6


def _key_at(fc, frame):
    return next(kp for kp in fc.keyframe_points if kp.co[0] == frame)


def test_simplify_sets_the_tolerance_generate_writes_with(head):
    settings = bpy.context.scene.mouthpiece
    assert settings.key_mode == "REDUCED" and settings.simplify == pytest.approx(keyreduce.DEFAULT_SIMPLIFY)
    assert settings.tolerance == pytest.approx(0.02)
    counts = []
    for simplify, tolerance in ((0.0, 0.002), (1.0, 0.2)):
        settings.simplify = simplify
        assert settings.tolerance == pytest.approx(tolerance)
        fc = curves.ensure_fcurve(head.data.shape_keys, "jawOpen")
        counts.append(curves.write_range(fc, 1, _speech_like(200, seed=7), settings.tolerance, keep_pins=False))
    assert counts[0] > 2 * counts[1]


def test_every_frame_mode(head):
    fc = curves.ensure_fcurve(head.data.shape_keys, "mouthFunnel")
    values = _speech_like(40, seed=3)
    assert curves.write_range(fc, 1, values, None, keep_pins=True) == 40
    assert [round(kp.co[0]) for kp in fc.keyframe_points] == list(range(1, 41))
    assert max(abs(fc.evaluate(1 + i) - v) for i, v in enumerate(values)) < 1e-6


def test_outside_keys_and_pins_stay_exactly_as_they_were(head):
    key = head.data.shape_keys
    fc = curves.ensure_fcurve(key, "jawOpen")
    for frame, value, kind in ((1, 0.2, "KEYFRAME"), (10, 0.9, "BREAKDOWN"), (30, 0.4, "KEYFRAME"),
                               (45, 0.1, "GENERATED"), (80, 0.7, "KEYFRAME")):
        fc.keyframe_points.insert(frame, value, keyframe_type=kind)
    fc.keyframe_points[0].handle_left_type = fc.keyframe_points[0].handle_right_type = "VECTOR"
    fc.update()
    before = {round(kp.co[0]): key_state(kp) for kp in fc.keyframe_points}
    values = _speech_like(51, seed=5)  # frames 20..70
    values[30 - 20] = 0.4  # the generated curve meets the pin
    curves.write_range(fc, 20, values, 0.01, keep_pins=True)
    after = {round(kp.co[0]): key_state(kp) for kp in fc.keyframe_points}
    assert after[1] == before[1] and after[80][0] == before[80][0] and after[10][0] == before[10][0]
    assert after[30][:1] == before[30][:1] and after[30][6] == "KEYFRAME"  # the pin is kept as a pin
    assert 45 not in after or after[45][6] == "GENERATED" and after[45][0][1] == pytest.approx(values[25])
    # Generated keys lie in the range or on its held edges, half a frame out.
    assert all(19.5 <= kp.co[0] <= 70.5 for kp in fc.keyframe_points if kp.type == "GENERATED")
    # Without pins every key in the range is replaced.
    curves.write_range(fc, 20, values, 0.01, keep_pins=False)
    inside = [kp for kp in fc.keyframe_points if 20 <= kp.co[0] <= 70]
    assert all(kp.type == "GENERATED" for kp in inside)


def test_continuous_acceleration_curve_still_within_tolerance(head):
    """A curve the animator set to Continuous Acceleration smoothing is reused as it is, and the
    check in Blender adds the keys that smoothing needs."""
    key = head.data.shape_keys
    fc = curves.ensure_fcurve(key, "mouthClose")
    fc.auto_smoothing = "CONT_ACCEL"
    values = _speech_like(120, seed=9)
    curves.write_range(fc, 1, values, 0.01, keep_pins=True)
    assert fc.auto_smoothing == "CONT_ACCEL"
    assert max(abs(fc.evaluate(1 + i) - v) for i, v in enumerate(values)) <= 0.01 + 1e-6


def test_other_channels_are_untouched(head):
    key = head.data.shape_keys
    other = curves.ensure_fcurve(key, "browInnerUp")
    other.keyframe_points.insert(12, 0.5)
    before = [key_state(kp) for kp in other.keyframe_points]
    curves.write_range(curves.ensure_fcurve(key, "jawOpen"), 1, _speech_like(60), 0.01, keep_pins=True)
    assert [key_state(kp) for kp in other.keyframe_points] == before


# --- The curve outside the written range stays exactly as it was -------------------------------

AUTO_HANDLES = ("AUTO", "AUTO_CLAMPED", "VECTOR")


def outside_frames(start, end, first, last):
    """Quarter frames from ``first`` to ``last`` outside the range [start, end], which reaches
    half a frame past its first and last frame (as the keys it replaces do)."""
    return [i / 4 for i in range(4 * first, 4 * last + 1) if not start - 0.5 < i / 4 < end + 0.5]


def _collinear(origin, a, b):
    """Whether handles ``a`` and ``b`` of a key at ``origin`` point the same way."""
    ax, ay, bx, by = a[0] - origin[0], a[1] - origin[1], b[0] - origin[0], b[1] - origin[1]
    return abs(ax * by - ay * bx) <= 1e-5 * math.hypot(ax, ay) * math.hypot(bx, by) and ax * bx + ay * by > 0


def _flat(points):
    return [c for point in points for c in point]


def assert_keys_outside_kept(before, fc, start, end):
    """``before``: key_state of every key before the write. Keys outside the range keep every
    property, except the nearest on each side: its handle facing the range is shortened along
    the same direction (the segment to the range is cut at the edge), and handle types that
    Blender would recompute from the new neighbour are made ALIGNED (FREE where the handles are
    not collinear). Blender re-aligns ALIGNED handles in float32 on every F-curve update, the
    animator's as well as these, which moves them by about a unit in the last place: those
    compare within 1e-6."""
    after = {s[0]: s for s in (key_state(kp) for kp in fc.keyframe_points)}
    outside = [s for s in before if not start - 0.5 < s[0][0] < end + 0.5]
    nearest = {max((s for s in outside if s[0][0] < start), default=None, key=lambda s: s[0][0]): 2,
               min((s for s in outside if s[0][0] > end), default=None, key=lambda s: s[0][0]): 1}
    for old in outside:
        new = after.get(old[0])
        assert new is not None, f"the key at {old[0]} went away"
        assert new[5:] == old[5:], old[0]  # interpolation, keyframe type, easing
        facing = nearest.get(old)
        if facing is None:
            assert new[3:5] == old[3:5], old[0]
            exact = "ALIGNED" not in new[3:5]
            assert new[1:3] == old[1:3] if exact else _flat(new[1:3]) == pytest.approx(_flat(old[1:3]), abs=1e-6)
            continue
        far = 3 - facing
        assert _flat([new[far]]) == pytest.approx(_flat([old[far]]), abs=1e-6), old[0]
        assert _collinear(old[0], old[facing], new[facing]), old[0]
        if old[0][0] not in (start - 0.5, end + 0.5):  # a key on the edge: its facing handle is inside
            assert abs(new[facing][0] - old[0][0]) <= abs(old[facing][0] - old[0][0]) + 1e-6
        if old[3] in AUTO_HANDLES or old[4] in AUTO_HANDLES:
            assert new[3:5] in (("ALIGNED", "ALIGNED"), ("FREE", "FREE")), old[0]
            if old[3:5] in (("AUTO_CLAMPED", "AUTO_CLAMPED"), ("AUTO", "AUTO")):
                assert new[3:5] == ("ALIGNED", "ALIGNED")  # auto handles are collinear: stays smooth
        else:
            assert new[3:5] == old[3:5]


def assert_edges_join_smoothly(fc, start, end):
    """A GENERATED key sits at each held edge with collinear handles (FREE, so that Blender's
    re-alignment never turns the outward one), so the slope just outside the edge is the slope
    just inside it."""
    for edge in (start - 0.5, end + 0.5):
        kp = next((kp for kp in fc.keyframe_points if kp.co[0] == edge), None)
        if kp is None:
            continue
        assert kp.type == "GENERATED" and (kp.handle_left_type, kp.handle_right_type) == ("FREE", "FREE")
        co = tuple(kp.co)
        assert _collinear(co, tuple(kp.handle_right), (2 * co[0] - kp.handle_left[0], 2 * co[1] - kp.handle_left[1]))
        h = 1e-4
        slope_out = (fc.evaluate(edge) - fc.evaluate(edge - h)) / h
        slope_in = (fc.evaluate(edge + h) - fc.evaluate(edge)) / h
        assert slope_in == pytest.approx(slope_out, abs=0.01), edge


def _animator_keys(fc, interpolation, handles):
    for frame, value in ((1, 0.2), (10, 0.9), (22, 0.4), (45, 0.1), (60, 0.8), (80, 0.7)):
        kp = fc.keyframe_points.insert(frame, value, keyframe_type="KEYFRAME")
        kp.interpolation = interpolation
        kp.handle_left_type = kp.handle_right_type = handles
    fc.update()


@pytest.mark.parametrize("interpolation, handles", [
    ("BEZIER", "AUTO_CLAMPED"), ("BEZIER", "AUTO"), ("BEZIER", "VECTOR"), ("BEZIER", "FREE"), ("BEZIER", "ALIGNED"),
    ("LINEAR", "AUTO_CLAMPED"), ("CONSTANT", "AUTO_CLAMPED")])
@pytest.mark.parametrize("keep_pins", [True, False])
def test_the_curve_outside_the_range_stays_exactly_as_it_was(head, interpolation, handles, keep_pins):
    fc = curves.ensure_fcurve(head.data.shape_keys, "mouthFunnel")
    _animator_keys(fc, interpolation, handles)
    frames = outside_frames(20, 50, -5, 90)
    before_values = [fc.evaluate(f) for f in frames]
    before = [key_state(kp) for kp in fc.keyframe_points]
    values = _speech_like(31, seed=5)
    values[22 - 20], values[45 - 20] = 0.4, 0.1  # the curve meets the pins at 22 and 45
    curves.write_range(fc, 20, values, 0.01, keep_pins=keep_pins)
    assert max(abs(fc.evaluate(f) - v) for f, v in zip(frames, before_values)) <= 1e-6
    assert_keys_outside_kept(before, fc, 20, 50)
    assert_edges_join_smoothly(fc, 20, 50)
    assert max(abs(fc.evaluate(20 + i) - v) for i, v in enumerate(values)) <= 0.01 + 1e-6


@pytest.mark.parametrize("first, limit", [(5, 1e-6), (1001, 5e-6)])
def test_generated_curve_regenerated_again_and_next_to_itself(head, first, limit):
    """Generated keys, then a range in the middle, then the range right after it (whose edge key
    is the first range's), then every frame: each time the rest is unchanged. Far from frame 0
    float32 key positions are coarser (1.2e-4 of a frame at 1000), which a cut handle cannot
    escape: there the outside stays within 5e-6 (4e-6 measured where jawOpen drops 0.8 a frame)."""
    fc = curves.ensure_fcurve(head.data.shape_keys, "jawOpen")
    curves.write_range(fc, first, _speech_like(100), 0.01, keep_pins=True)
    for offset, count, tolerance in ((25, 21, 0.01), (46, 10, 0.01), (35, 10, None)):
        start = first + offset
        frames = outside_frames(start, start + count - 1, first - 5, first + 105)
        before_values = [fc.evaluate(f) for f in frames]
        before = [key_state(kp) for kp in fc.keyframe_points]
        curves.write_range(fc, start, _speech_like(count, seed=offset), tolerance, keep_pins=True,
                           context=(first, first + 99))
        assert max(abs(fc.evaluate(f) - v) for f, v in zip(frames, before_values)) <= limit, start
        assert_keys_outside_kept(before, fc, start, start + count - 1)
        assert_edges_join_smoothly(fc, start, start + count - 1)
    assert [kp.co[0] for kp in fc.keyframe_points].count(first + 45.5) == 1  # the shared edge key


def test_a_segment_spanning_the_whole_range(head):
    fc = curves.ensure_fcurve(head.data.shape_keys, "mouthClose")
    for frame, value in ((10, 0.2), (70, 0.5)):
        fc.keyframe_points.insert(frame, value)
    frames = outside_frames(30, 50, 0, 90)
    before_values = [fc.evaluate(f) for f in frames]
    before = [key_state(kp) for kp in fc.keyframe_points]
    curves.write_range(fc, 30, _speech_like(21, seed=3), 0.01, keep_pins=True)
    assert max(abs(fc.evaluate(f) - v) for f, v in zip(frames, before_values)) <= 1e-6
    assert_keys_outside_kept(before, fc, 30, 50)
    assert_edges_join_smoothly(fc, 30, 50)


@pytest.mark.parametrize("extrapolation", ["CONSTANT", "LINEAR"])
def test_past_the_last_key_the_extrapolation_is_held(head, extrapolation):
    fc = curves.ensure_fcurve(head.data.shape_keys, "mouthClose")
    fc.extrapolation = extrapolation
    for frame, value in ((10, 0.2), (20, 0.5)):
        fc.keyframe_points.insert(frame, value)
    frames = outside_frames(30, 50, 0, 29)
    before_values = [fc.evaluate(f) for f in frames]
    curves.write_range(fc, 30, _speech_like(21, seed=3), 0.01, keep_pins=True)
    assert max(abs(fc.evaluate(f) - v) for f, v in zip(frames, before_values)) <= 1e-6
    assert_edges_join_smoothly(fc, 30, 50)


def test_with_no_key_on_one_side_the_extrapolation_follows_the_range_unless_within_the_context(head):
    """No key before the range: outside it is only the constant extrapolation of the first key.
    Within the frames the values were generated against (``context``) it is held; beyond them
    (a range that starts the animation) the curve starts with the range's first value."""
    key = head.data.shape_keys
    values = _speech_like(21, seed=3)
    values[0] = 0.6
    for context, expected in (((1, 60), 0.25), (None, 0.6), ((30, 60), 0.6)):
        fc = curves.ensure_fcurve(key, "mouthClose")
        fc.keyframe_points.clear()
        fc.keyframe_points.insert(35, 0.25)
        fc.keyframe_points.insert(45, 0.5)
        assert fc.extrapolation == "CONSTANT"
        curves.write_range(fc, 30, values, 0.01, keep_pins=False, context=context)
        assert [fc.evaluate(f) for f in (0, 10, 29, 29.5)] == pytest.approx([expected] * 4, abs=1e-6), context
        if context == (1, 60):
            assert_edges_join_smoothly(fc, 30, 50)
        # No key after the range either: held wherever the context goes on past it.
        assert fc.evaluate(70) == pytest.approx(values[-1] if context is None else 0.5, abs=1e-6)


def test_applying_a_take_copies_its_range_and_holds_the_edges_the_same_way(head):
    """A take is the original Action with the range rewritten; applying it copies the range back
    (curves.copy_range), which must give the curve the take showed, with the outside unchanged."""
    key = head.data.shape_keys
    fc = curves.ensure_fcurve(key, "jawOpen")
    curves.write_range(fc, 1, _speech_like(100), 0.01, keep_pins=True)
    take = key.animation_data.action.copy()
    take_fc = curves.ensure_fcurve(key, "jawOpen", take)
    curves.write_range(take_fc, 30, _speech_like(21, seed=4), 0.01, keep_pins=True)
    frames = [i / 4 for i in range(0, 4 * 105)]
    shown = [take_fc.evaluate(f) for f in frames]
    outside = outside_frames(30, 50, 0, 104)
    before_values = [fc.evaluate(f) for f in outside]
    before = [key_state(kp) for kp in fc.keyframe_points]
    curves.copy_range(take_fc, fc, 30, 50)
    assert max(abs(fc.evaluate(f) - v) for f, v in zip(frames, shown)) <= 1e-6
    assert max(abs(fc.evaluate(f) - v) for f, v in zip(outside, before_values)) <= 1e-6
    assert_keys_outside_kept(before, fc, 30, 50)
    bpy.data.actions.remove(take)
