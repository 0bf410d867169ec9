"""Editing with a real sidecar: Pin Pose, In-between (meets every pin), Regenerate Range
(everything outside stays exactly as it was, evaluated values included, and the edges join
without a kink)."""

import bpy
import pytest

from addon.core import arkit, jobplan
from tests.blender.helpers import fcurve, key_state
from tests.blender.test_curve_writing import assert_edges_join_smoothly, assert_keys_outside_kept, outside_frames

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
        settle = jobplan.INBETWEEN_SETTLE_S * 24
        # Between the pins and a settle span around them (test_animator_decisions checks the rest).
        assert generated and min(generated) >= 15 - settle - 0.5 and max(generated) <= 50 + settle + 0.5
    # In-between needs two posed frames.
    for fc in [fcurve(obj, c) for c in arkit.CHANNELS]:
        fc.keyframe_points.clear()
    with pytest.raises(RuntimeError, match="at least two frames"):
        bpy.ops.mouthpiece.inbetween()


def _regenerate_preview_range(scene, lo, hi, seed):
    scene.use_preview_range = True
    scene.frame_preview_start, scene.frame_preview_end = lo, hi
    scene.mouthpiece.seed = seed  # another sample, so the range really changes
    assert bpy.ops.mouthpiece.regenerate_range() == {"FINISHED"}
    scene.use_preview_range = False


def test_regenerate_range_leaves_everything_outside_identical(speech_scene):
    """Every channel's evaluated curve outside the range, at every quarter frame up to half a
    frame from the range's first and last frame, is what it was; so is every key outside (the
    two nearest the range keep their place and handles, see assert_keys_outside_kept)."""
    scene, obj, strip = speech_scene
    bpy.ops.mouthpiece.generate()
    lo, hi = 30, 50
    frames = outside_frames(lo, hi, scene.frame_start - 2, scene.frame_end + 2)
    before = {c: _keys(obj, c) for c in arkit.CHANNELS}
    values_before = {c: [fcurve(obj, c).evaluate(f) for f in frames] for c in arkit.CHANNELS}
    _regenerate_preview_range(scene, lo, hi, seed=7)
    worst = 0.0
    for c in arkit.CHANNELS:
        fc = fcurve(obj, c)
        worst = max(worst, max(abs(fc.evaluate(f) - v) for f, v in zip(frames, values_before[c])))
        assert_keys_outside_kept(before[c], fc, lo, hi)
    assert worst <= 1e-6
    inside = {c: [k for k in before[c] if lo <= k[0][0] <= hi] for c in arkit.CHANNELS}
    changed = sum(inside[c] != [k for k in _keys(obj, c) if lo <= k[0][0] <= hi] for c in arkit.CHANNELS)
    assert changed > 0


def _slope(fc, frame, side):
    """The one-sided slope at ``frame`` (side -1: from before it, +1: from after it)."""
    h = 1e-3
    return (fc.evaluate(frame + side * h) - fc.evaluate(frame)) / (side * h)


def test_regenerate_range_joins_the_edges_without_a_kink(speech_scene):
    """Half a frame out from the range's first and last frame an edge key carries on the old
    curve: the same value, the same slope coming from outside, and (aligned handles) the same
    slope going into the range. Between it and the first regenerated frame the curve does not
    bulge past the two by more than the key-reduction tolerance."""
    scene, obj, strip = speech_scene
    bpy.ops.mouthpiece.generate()
    lo, hi = 30, 50
    edges = ((lo - 0.5, -1, lo), (hi + 0.5, 1, hi))
    old = {c: [(fcurve(obj, c).evaluate(e), _slope(fcurve(obj, c), e, side)) for e, side, _ in edges]
           for c in arkit.CHANNELS}
    _regenerate_preview_range(scene, lo, hi, seed=7)
    tolerance = scene.mouthpiece.tolerance
    for c in arkit.CHANNELS:
        fc = fcurve(obj, c)
        assert_edges_join_smoothly(fc, lo, hi)
        for (edge, side, frame), (value, slope) in zip(edges, old[c]):
            assert any(kp.co[0] == edge for kp in fc.keyframe_points), (c, edge)
            assert fc.evaluate(edge) == pytest.approx(value, abs=1e-6)  # (and all outside, tested above)
            assert _slope(fc, edge, -side) == pytest.approx(slope, abs=0.01)
            ends = (value, fc.evaluate(frame))
            between = [fc.evaluate(edge - side * i / 20) for i in range(11)]
            assert min(ends) - tolerance <= min(between) and max(between) <= max(ends) + tolerance, (c, edge)


def test_regenerate_range_between_two_selected_markers(speech_scene):
    scene, obj, strip = speech_scene
    bpy.ops.mouthpiece.generate()
    before = _keys(obj, "jawOpen")
    for frame in (20, 35):
        scene.timeline_markers.new(f"m{frame}", frame=frame).select = True
    scene.mouthpiece.seed = 3
    bpy.ops.mouthpiece.regenerate_range()
    after = _keys(obj, "jawOpen")
    outside = [k[0] for k in after if not 19.5 <= k[0][0] <= 35.5]  # the edge keys sit half a frame out
    assert outside == [k[0] for k in before if k[0][0] < 20 or k[0][0] > 35]
    assert [k[0][0] for k in after if k[0][0] in (19.5, 35.5)] == [19.5, 35.5]
    assert after != before


def test_regenerate_range_at_the_start_of_the_frame_range(speech_scene):
    """A range that starts the animation has nothing before it to hold: the curve starts with the
    range (constant extrapolation), and everything after the range stays as it was."""
    scene, obj, strip = speech_scene
    bpy.ops.mouthpiece.generate()
    lo, hi = scene.frame_start, scene.frame_start + 15
    frames = outside_frames(lo, hi, lo, scene.frame_end + 2)
    values_before = {c: [fcurve(obj, c).evaluate(f) for f in frames] for c in arkit.CHANNELS}
    _regenerate_preview_range(scene, lo, hi, seed=9)
    for c in arkit.CHANNELS:
        fc = fcurve(obj, c)
        assert fc.extrapolation == "CONSTANT"
        assert max(abs(fc.evaluate(f) - v) for f, v in zip(frames, values_before[c])) <= 1e-6, c
        assert fc.keyframe_points[0].co[0] == lo and fc.evaluate(lo - 3) == fc.keyframe_points[0].co[1]
        assert_edges_join_smoothly(fc, lo, hi)


def test_regenerate_range_needs_a_range(speech_scene):
    scene, obj, strip = speech_scene
    bpy.ops.mouthpiece.generate()
    for fc in (fcurve(obj, c) for c in arkit.CHANNELS):
        for kp in fc.keyframe_points:
            kp.select_control_point = False
    with pytest.raises(RuntimeError, match="preview range, select keys"):
        bpy.ops.mouthpiece.regenerate_range()
