"""Reset, Keep Style (a take's style into the Performance panel) and Match Style (the style the
sidecar infers from a take or from the animation on a frame range). Each changes nothing but the
Performance panel, and nothing at all when it fails (the report says why)."""

from __future__ import annotations

import json

import bpy

from ...core import client, performance, resample
from ...core.client import SidecarError
from ...core.jobplan import PlanError
from .. import compat, curves, prefs
from ..generate.job import regenerate_span
from ..rig import data as rig
from ..sidecar.data import SIDECAR
from ..takes import operator as takes_operator
from . import data


def take_style(take) -> dict | None:
    try:
        style = json.loads(take.style) if take.style else None
    except ValueError:
        return None
    return style if isinstance(style, dict) else None


def _filled(operator, context, style: dict, what: str) -> set[str]:
    try:
        chosen = data.fill(context.scene.mouthpiece.performance, style)
    except ValueError as exc:
        operator.report({"ERROR"}, f"{what}: {exc}")
        return {"CANCELLED"}
    shown = performance.format_style({k: getattr(context.scene.mouthpiece.performance, k) for k in chosen})
    operator.report({"INFO"}, f"Performance set from {what}: {shown}")
    return {"FINISHED"}


class MOUTHPIECE_OT_reset_performance(bpy.types.Operator):
    """Unset every style key: the model draws each one per take again (style guidance back to 1, off)"""

    bl_idname = "mouthpiece.reset_performance"
    bl_label = "Reset"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        data.reset(context.scene.mouthpiece.performance)
        return {"FINISHED"}


def _chosen_take(operator, context):
    """(object, key, take) for the operator's ``index`` (-1: the list's active take); None after a report."""
    obj, key, index = takes_operator.chosen_take(operator, context, removes=False)
    return None if obj is None else (obj, key, rig.settings_of(obj).takes[index])


class MOUTHPIECE_OT_keep_style(bpy.types.Operator):
    """Put this take's style in the Performance panel (every key set), so the next generation keeps it"""

    bl_idname = "mouthpiece.keep_style"
    bl_label = "Keep Style"
    bl_options = {"REGISTER", "UNDO"}

    index: bpy.props.IntProperty(name="Take", default=-1, min=-1,
                                 description="The take; -1: the active take in the list")

    def execute(self, context):
        chosen = _chosen_take(self, context)
        if chosen is None:
            return {"CANCELLED"}
        _, _, take = chosen
        style = take_style(take)
        if style is None:
            self.report({"ERROR"}, f"{take.name} has no style: the model that made it has no style input")
            return {"CANCELLED"}
        return _filled(self, context, style, take.name)


def _take_curves(key, mapping, take, start: int, end: int) -> dict[str, list[float]]:
    fcurves = compat.fcurves_of(take.action, key) if take.action is not None else None
    out = {}
    for channel, shape_key in mapping.items():
        fc = fcurves.find(curves.data_path(shape_key)) if fcurves is not None else None
        if fc is not None and len(fc.keyframe_points):
            out[channel] = [fc.evaluate(f) for f in range(start, end + 1)]
    return out


def _range_curves(key, mapping, start: int, end: int) -> dict[str, list[float]]:
    out = {}
    for channel, shape_key in mapping.items():
        fc = curves.find_fcurve(key, shape_key)
        if fc is not None and len(fc.keyframe_points):
            out[channel] = curves.sample(key, shape_key, start, end)
    return out


class MOUTHPIECE_OT_match_style(bpy.types.Operator):
    """Infer the performance style from a take or from the animation on a frame range (the preview range, the selected keys' span or two selected markers), and set the Performance panel to it"""

    bl_idname = "mouthpiece.match_style"
    bl_label = "Match Style"
    bl_options = {"REGISTER", "UNDO"}

    source: bpy.props.EnumProperty(
        name="From", default="RANGE",
        items=(("RANGE", "Frame Range", "The animation on the preview range, else the span of the selected keys, "
                                        "else between two selected markers (as Regenerate Range)"),
               ("TAKE", "Take", "The selected take's animation")))
    index: bpy.props.IntProperty(name="Take", default=-1, min=-1,
                                 description="With From Take: the take; -1: the active take in the list")

    def execute(self, context):
        scene = context.scene
        if self.source == "TAKE":
            chosen = _chosen_take(self, context)
            if chosen is None:
                return {"CANCELLED"}
            obj, key, take = chosen
            settings = rig.settings_of(obj)
            start, end, what = settings.takes_start, settings.takes_end, take.name
        else:
            obj = context.active_object
            try:
                key = rig.shape_key_data(obj)
            except rig.RigError as exc:
                self.report({"ERROR"}, str(exc))
                return {"CANCELLED"}
            take = None
        try:
            mapping, _ = rig.usable_mapping(obj, key)
            if take is None:
                start, end = regenerate_span(scene, key, mapping)
                what = f"frames {start}-{end}"
        except (rig.RigError, PlanError) as exc:
            self.report({"ERROR"}, str(exc).replace("to regenerate", "to match"))
            return {"CANCELLED"}
        found = _take_curves(key, mapping, take, start, end) if take is not None else \
            _range_curves(key, mapping, start, end)
        if not any(max(v) - min(v) > 1e-4 for v in found.values()):
            self.report({"ERROR"}, f"No animation on the mapped shape keys in {what}: nothing to match")
            return {"CANCELLED"}
        fps = resample.scene_fps(scene.render.fps, scene.render.fps_base)
        try:
            sidecar = SIDECAR.connect(prefs.connection_settings(context), start=False)
            style = sidecar.infer_style(found, fps)
        except SidecarError as exc:
            self.report({"ERROR"}, f"Match Style: {exc}")
            return {"CANCELLED"}
        return _filled(self, context, style, what)
