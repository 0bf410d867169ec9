"""Scene building and snapshot helpers for the add-on tests in real headless Blender."""

from __future__ import annotations

import bpy

from addon.blender import compat, curves
from addon.blender.rig.data import settings_of


def new_scene(fps: int = 24):
    """A fresh empty scene as the context's scene, at ``fps``."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = fps, 1.0
    return scene


def add_sound(scene, path, frame_start: int, name: str = "voice", channel: int = 2):
    editor = scene.sequence_editor_create()
    strips = editor.strips if hasattr(editor, "strips") else editor.sequences
    return strips.new_sound(name, str(path), channel, frame_start)


def strip_end(strip) -> float:
    return compat.strip_span(strip)[2]


def trim_start(strip, frames: int) -> None:
    """Cut ``frames`` off the start of a strip (5.2 renamed frame_offset_start)."""
    setattr(strip, "left_handle_offset" if hasattr(strip, "left_handle_offset") else "frame_offset_start", frames)


def demo_head(rename: dict[str, str] | None = None):
    bpy.ops.mouthpiece.add_demo_head()
    obj = bpy.context.active_object
    for old, new in (rename or {}).items():
        obj.data.shape_keys.key_blocks[old].name = new
    return obj


def snapshot(obj) -> dict:
    """Everything the add-on may touch on an object's shape keys, as plain data."""
    key = obj.data.shape_keys
    ad = key.animation_data
    state = {"values": [(kb.name, kb.value) for kb in key.key_blocks],
             "action": ad.action.name if ad and ad.action else None,
             "actions": sorted(a.name for a in bpy.data.actions),
             "mapping": [(i.name, i.shape_key) for i in settings_of(obj).mapping],
             "curves": {}}
    for kb in key.key_blocks:
        fc = curves.find_fcurve(key, kb.name)
        if fc is not None:
            state["curves"][kb.name] = [key_state(kp) for kp in fc.keyframe_points]
    return state


def key_state(kp) -> tuple:
    return (tuple(kp.co), tuple(kp.handle_left), tuple(kp.handle_right), kp.handle_left_type,
            kp.handle_right_type, kp.interpolation, kp.type, kp.easing)


def fcurve(obj, shape_key: str):
    return curves.find_fcurve(obj.data.shape_keys, shape_key)


def values(obj, shape_key: str, start: int, end: int) -> list[float]:
    fc = fcurve(obj, shape_key)
    return [fc.evaluate(f) for f in range(start, end + 1)]
