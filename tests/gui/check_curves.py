"""Run by a headless Blender on a .blend the GUI saved: prints ``CURVES <json>`` describing the
shape-key F-curves of every mesh, read through the action's slot on 4.4+ (5.x has no
Action.fcurves) and Action.fcurves before that."""

import json
import re

import bpy

_PATH = re.compile(r'^key_blocks\["(.+)"\]\.value$')


def fcurves(anim):
    action = anim.action
    slot = getattr(anim, "action_slot", None)
    if slot is not None:
        from bpy_extras import anim_utils

        bag = anim_utils.action_get_channelbag_for_slot(action, slot)
        return list(bag.fcurves) if bag is not None else []
    return list(action.fcurves)


objects = {}
for obj in bpy.data.objects:
    key = obj.data.shape_keys if obj.type == "MESH" else None
    anim = key.animation_data if key is not None else None
    if anim is None or anim.action is None:
        continue
    curves = {}
    for fc in fcurves(anim):
        match = _PATH.match(fc.data_path)
        if not match:
            continue
        points = [tuple(p.co) for p in fc.keyframe_points]
        values = [v for _, v in points]
        curves[match.group(1)] = {"keys": len(points), "first": points[0][0] if points else None,
                                  "last": points[-1][0] if points else None,
                                  "min": min(values) if values else None, "max": max(values) if values else None}
    objects[obj.name] = {"action": anim.action.name, "curves": curves}
scene = bpy.context.scene
print("CURVES " + json.dumps({"objects": objects, "frames": [scene.frame_start, scene.frame_end],
                              "version": bpy.app.version_string}))
