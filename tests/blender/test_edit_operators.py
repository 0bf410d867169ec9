"""Editing with a real sidecar: Pin Pose, In-between (meets every pin), Regenerate Range
(everything outside stays exactly as it was)."""

import bpy
import pytest

from addon.core import arkit
from tests.blender.helpers import fcurve, key_state

pytestmark = pytest.mark.usefixtures("sidecar")


def _keys(obj, channel):
    return [key_state(kp) for kp in fcurve(obj, channel).keyframe_points]


def test_pin_pose_keys_every_mapped_channel(speech_scene):
    scene, obj, strip = speech_scene
    key = obj.data.shape_keys
    key.key_blocks["jawOpen"].value = 0.7
    key.key_blocks["mouthSmileRight"].value = 0.3
    scene.frame_set(33)
    assert bpy.ops.mouthpiece.pin_pose() == {"FINISHED"}
    for channel in arkit.CHANNELS:
        points = fcurve(obj, channel).keyframe_points
        assert [(kp.co[0], kp.type) for kp in points] == [(33.0, "KEYFRAME")]
    assert fcurve(obj, "jawOpen").evaluate(33) == pytest.approx(0.7)
    assert fcurve(obj, "mouthSmileRight").evaluate(33) == pytest.approx(0.3)


def test_inbetween_fills_between_pins_and_meets_each(speech_scene):
    scene, obj, strip = speech_scene
    key = obj.data.shape_keys
    poses = {15: {"jawOpen": 0.1, "mouthFunnel": 0.5}, 32: {"jawOpen": 0.8, "mouthFunnel": 0.0},
             50: {"jawOpen": 0.0, "mouthFunnel": 0.3}}
    for frame, pose in poses.items():
        scene.frame_set(frame)
        for block in key.key_blocks[1:]:
            block.value = pose.get(block.name, 0.0)
        bpy.ops.mouthpiece.pin_pose()
    assert bpy.ops.mouthpiece.inbetween() == {"FINISHED"}
    for channel in ("jawOpen", "mouthFunnel", "mouthSmileLeft"):
        fc = fcurve(obj, channel)
        for frame, pose in poses.items():
            assert fc.evaluate(frame) == pytest.approx(pose.get(channel, 0.0), abs=1e-6)
        generated = [kp.co[0] for kp in fc.keyframe_points if kp.type == "GENERATED"]
        assert generated and min(generated) > 15 and max(generated) < 50  # only between the pins
    # In-between needs two posed frames.
    for fc in [fcurve(obj, c) for c in arkit.CHANNELS]:
        fc.keyframe_points.clear()
    with pytest.raises(RuntimeError, match="at least two frames"):
        bpy.ops.mouthpiece.inbetween()


def test_regenerate_range_leaves_everything_outside_identical(speech_scene):
    scene, obj, strip = speech_scene
    bpy.ops.mouthpiece.generate()
    lo, hi = 30, 50
    outside = {c: [k for k in _keys(obj, c) if not lo <= k[0][0] <= hi] for c in arkit.CHANNELS}
    inside_before = {c: [k for k in _keys(obj, c) if lo <= k[0][0] <= hi] for c in arkit.CHANNELS}
    values_outside = {f: fcurve(obj, "jawOpen").evaluate(f) for f in list(range(5, lo - 3)) + list(range(hi + 3, 80))}
    scene.use_preview_range = True
    scene.frame_preview_start, scene.frame_preview_end = lo, hi
    scene.mouthpiece.seed = 7  # another sample, so the range really changes
    assert bpy.ops.mouthpiece.regenerate_range() == {"FINISHED"}
    for c in arkit.CHANNELS:
        keys = _keys(obj, c)
        assert [k[:1] + k[3:] for k in keys if not lo <= k[0][0] <= hi] == [k[:1] + k[3:] for k in outside[c]], c
    changed = sum(inside_before[c] != [k for k in _keys(obj, c) if lo <= k[0][0] <= hi] for c in arkit.CHANNELS)
    assert changed > 0
    # Away from the edges (whose handles follow their new neighbours) the curve is unchanged.
    for f, v in values_outside.items():
        assert fcurve(obj, "jawOpen").evaluate(f) == pytest.approx(v, abs=1e-6)


def test_regenerate_range_between_two_selected_markers(speech_scene):
    scene, obj, strip = speech_scene
    bpy.ops.mouthpiece.generate()
    before = _keys(obj, "jawOpen")
    for frame in (20, 35):
        scene.timeline_markers.new(f"m{frame}", frame=frame).select = True
    scene.mouthpiece.seed = 3
    bpy.ops.mouthpiece.regenerate_range()
    after = _keys(obj, "jawOpen")
    assert [k[0] for k in after if k[0][0] < 20 or k[0][0] > 35] == [k[0] for k in before if k[0][0] < 20 or k[0][0] > 35]
    assert after != before


def test_regenerate_range_needs_a_range(speech_scene):
    scene, obj, strip = speech_scene
    bpy.ops.mouthpiece.generate()
    for fc in (fcurve(obj, c) for c in arkit.CHANNELS):
        for kp in fc.keyframe_points:
            kp.select_control_point = False
    with pytest.raises(RuntimeError, match="preview range, select keys"):
        bpy.ops.mouthpiece.regenerate_range()
