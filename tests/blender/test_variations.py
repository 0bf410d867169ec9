"""Variations with a real sidecar: N distinct takes with their seeds, one-click preview,
apply one (its keys land in the original animation), delete the rest."""

import bpy
import pytest

from addon.blender import compat
from tests.blender.helpers import fcurve, values

pytestmark = pytest.mark.usefixtures("sidecar")


def test_variations_preview_apply_and_delete(speech_scene):
    scene, obj, strip = speech_scene
    key = obj.data.shape_keys
    key.key_blocks["browInnerUp"].keyframe_insert("value", frame=1)  # animation outside the range
    original = key.animation_data.action
    scene.mouthpiece.seed = 11
    assert bpy.ops.mouthpiece.variations(count=3) == {"FINISHED"}
    takes = obj.mouthpiece.takes
    assert len(takes) == 3
    assert [t.seed for t in takes] == [11, 12, 13]  # take i uses seed + i
    assert len({t.action.name for t in takes}) == 3 and all(t.action.use_fake_user for t in takes)
    start, end = scene.frame_start, scene.frame_end
    curves_by_take = []
    for i in range(3):
        bpy.ops.mouthpiece.preview_take(index=i)
        assert key.animation_data.action == takes[i].action and obj.mouthpiece.previewing == i
        curves_by_take.append(values(obj, "jawOpen", start, end))
    assert curves_by_take[0] != curves_by_take[1] != curves_by_take[2] != curves_by_take[0]
    bpy.ops.mouthpiece.preview_take(index=-1)
    assert key.animation_data.action == original
    assert fcurve(obj, "jawOpen") is None  # the original has no lip sync yet
    # While a take is previewed, generating is refused (it would write into the take).
    bpy.ops.mouthpiece.preview_take(index=0)
    with pytest.raises(RuntimeError, match="take is being previewed"):
        bpy.ops.mouthpiece.generate()
    take_names = [t.action.name for t in takes]
    assert bpy.ops.mouthpiece.apply_take(index=1) == {"FINISHED"}
    assert key.animation_data.action == original
    assert values(obj, "jawOpen", start, end) == pytest.approx(curves_by_take[1], abs=1e-6)
    assert fcurve(obj, "browInnerUp").keyframe_points[0].co[0] == 1  # outside animation kept
    assert len(obj.mouthpiece.takes) == 0
    assert not any(name in bpy.data.actions for name in take_names)


def test_delete_one_take_and_apply_without_prior_animation(speech_scene):
    scene, obj, strip = speech_scene
    key = obj.data.shape_keys
    bpy.ops.mouthpiece.variations(count=2)
    doomed = obj.mouthpiece.takes[0].action.name
    kept_seed = obj.mouthpiece.takes[1].seed
    bpy.ops.mouthpiece.delete_take(index=0)
    assert doomed not in bpy.data.actions and len(obj.mouthpiece.takes) == 1
    assert obj.mouthpiece.takes[0].seed == kept_seed
    bpy.ops.mouthpiece.apply_take(index=0)
    action = key.animation_data.action
    assert action is not None and not action.use_fake_user
    assert compat.fcurves_of(action, key).find('key_blocks["jawOpen"].value') is not None
    assert len(obj.mouthpiece.takes) == 0


def test_a_takes_seed_reproduces_it(speech_scene):
    scene, obj, strip = speech_scene
    scene.mouthpiece.seed = 40
    bpy.ops.mouthpiece.variations(count=3)
    bpy.ops.mouthpiece.preview_take(index=2)
    favourite = values(obj, "jawOpen", scene.frame_start, scene.frame_end)
    assert bpy.ops.mouthpiece.use_take_seed(index=2) == {"FINISHED"}
    assert scene.mouthpiece.seed == 42 and not scene.mouthpiece.use_random_seed
    bpy.ops.mouthpiece.discard_takes()
    bpy.ops.mouthpiece.generate()
    assert values(obj, "jawOpen", scene.frame_start, scene.frame_end) == pytest.approx(favourite, abs=1e-5)
