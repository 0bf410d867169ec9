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
    assert all(20 <= f <= 70 for f, s in after.items() if s[6] == "GENERATED")
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
