"""Variations: N takes of the range, each kept as an Action so that previewing one is a single
click (the take's Action is assigned to the shape keys), applying one copies its keys over the
range into the original animation, and the rest are deleted."""

import json

import bpy

from .. import compat, curves, generated, prefs
from ..generate.job import take_values, target_key, write_take
from ..generate.operator import JOB_OPTIONS, JobOperator
from ..rig import data as rig, writable


def discard_takes(obj, key) -> None:
    """Delete every take's Action and go back to the original animation."""
    settings = rig.settings_of(obj)
    if settings.previewing >= 0:
        compat.assign_action(key, settings.takes_original) if settings.takes_original else _unassign(key)
    for take in settings.takes:
        if take.action is not None:
            bpy.data.actions.remove(take.action)
    settings.takes.clear()
    settings.takes_index = -1
    settings.previewing = -1
    settings.takes_original = None


def _unassign(key) -> None:
    if key.animation_data is not None:
        key.animation_data.action = None


class MOUTHPIECE_OT_variations(JobOperator, bpy.types.Operator):
    """Generate several takes of the frame range to choose from (each keeps its seed)"""

    bl_idname = "mouthpiece.variations"
    bl_label = "Variations"
    bl_options = JOB_OPTIONS
    kind = "variations"

    count: bpy.props.IntProperty(name="Takes", default=0, min=0, max=16,
                                 description="How many takes; 0: the scene setting or the preference")

    def samples(self, context) -> int:
        return self.count or context.scene.mouthpiece.takes or prefs.pref("default_samples", context)

    def apply(self, context, job) -> str:
        plan = job.plan
        obj, key = target_key(plan)
        all_values = [take_values(plan, take, job.result_fps) for take in job.takes]
        if plan.store_mapping:
            rig.store_mapping(obj, plan.mapping)
        discard_takes(obj, key)
        settings = rig.settings_of(obj, create=True)
        original = key.animation_data.action if key.animation_data else None
        for number, (take, values) in enumerate(zip(job.takes, all_values), start=1):
            action = original.copy() if original is not None else compat.new_action_for(key, "")
            action.name = f"{obj.name} take {number} (seed {take.seed})"
            action.use_fake_user = True  # kept in the .blend while not assigned
            write_take(plan, key, values, action)
            item = settings.takes.add()
            item.name = f"Take {number}"
            item.seed = take.seed
            item.style = json.dumps(take.style, sort_keys=True) if take.style else ""
            item.action = action
            item.shape_keys = "\n".join(plan.written.values())
        settings.takes_original = original
        settings.takes_start, settings.takes_end = plan.write
        settings.takes_index = 0
        _preview(obj, key, 0)
        kept = plan.report()
        return (f"Mouthpiece: {len(job.takes)} takes of frames {plan.write[0]}-{plan.write[1]}; "
                "previewing take 1" + (f"; {kept}" if kept else ""))


_syncing = False  # _preview is setting the list's active row: not a selection by the animator


def _preview(obj, key, index: int) -> None:
    """Show take ``index`` (-1: the original animation) and make it the list's active row. The
    viewport, the highlighted row and Apply Selected thus always mean the same take."""
    global _syncing
    settings = rig.settings_of(obj)
    if index < 0:
        if settings.takes_original is not None:
            compat.assign_action(key, settings.takes_original)
        else:
            _unassign(key)
    else:
        compat.assign_action(key, settings.takes[index].action)
    _syncing = True
    try:
        settings.previewing = index
        settings.takes_index = index
    finally:
        _syncing = False


def selection_changed(settings) -> None:
    """The takes list's active row changed (a click, the arrow keys, a script): preview that take."""
    if _syncing or not len(settings.takes):
        return
    obj = rig.owner_of(settings)
    key = obj.data.shape_keys if obj is not None and obj.type == "MESH" else None
    if key is None:
        return
    index = settings.takes_index
    _preview(obj, key, index if 0 <= index < len(settings.takes) else -1)


def _take_context(operator, context):
    obj = context.active_object
    try:
        key = rig.shape_key_data(obj)
    except rig.RigError as exc:
        operator.report({"ERROR"}, str(exc))
        return None, None
    if not len(rig.settings_of(obj).takes):
        operator.report({"ERROR"}, "There are no takes: press Variations first")
        return None, None
    return obj, key


class _OnTake:
    """An operator on one take: ``index``, or the list's active take."""

    bl_options = {"REGISTER", "UNDO"}

    index: bpy.props.IntProperty(name="Take", default=-1, min=-1,
                                 description="The take; -1: the active take in the list")


def _takes_removable(operator, obj) -> bool:
    """Takes saved in the library of an overridden rig cannot be removed from the override."""
    problem = writable.takes_problem(obj)
    if problem:
        operator.report({"ERROR"}, problem)
    return problem is None


def chosen_take(operator, context, removes: bool = True):
    """(object, key, take index) for the operator's ``index`` (-1: the list's active take)."""
    obj, key = _take_context(operator, context)
    if obj is None or (removes and not _takes_removable(operator, obj)):
        return None, None, -1
    settings = rig.settings_of(obj)
    index = operator.index if operator.index >= 0 else settings.takes_index
    if not 0 <= index < len(settings.takes):
        operator.report({"ERROR"}, "The original animation is shown: click a take in the Takes list to "
                                   "preview it, then use it")
        return None, None, -1
    return obj, key, index


class MOUTHPIECE_OT_preview_take(bpy.types.Operator):
    """Show this take in the viewport (-1: the original animation)"""

    bl_idname = "mouthpiece.preview_take"
    bl_label = "Preview Take"
    bl_options = {"REGISTER", "UNDO"}

    index: bpy.props.IntProperty(name="Take", default=-1, min=-1)

    def execute(self, context):
        obj, key = _take_context(self, context)
        if obj is None:
            return {"CANCELLED"}
        if self.index >= len(rig.settings_of(obj).takes):
            self.report({"ERROR"}, f"There is no take {self.index + 1}")
            return {"CANCELLED"}
        _preview(obj, key, self.index)
        return {"FINISHED"}


class MOUTHPIECE_OT_apply_take(_OnTake, bpy.types.Operator):
    """Keep this take: copy its keys over the range into the original animation and delete all takes"""

    bl_idname = "mouthpiece.apply_take"
    bl_label = "Apply Take"

    def execute(self, context):
        obj, key, index = chosen_take(self, context)
        if obj is None:
            return {"CANCELLED"}
        settings = rig.settings_of(obj)
        take = settings.takes[index]
        chosen, original = take.action, settings.takes_original
        problem = writable.key_problem(obj, key) or writable.action_problem(original)
        if problem:
            self.report({"ERROR"}, problem)
            return {"CANCELLED"}
        name, seed = take.name, take.seed
        shape_keys = [k for k in take.shape_keys.split("\n") if k] or [b.name for b in key.key_blocks]
        start, end = settings.takes_start, settings.takes_end
        if original is None:
            # No animation before the takes: the chosen take's Action becomes the animation.
            settings.takes.remove(index)
            compat.assign_action(key, chosen)
            chosen.use_fake_user = False
            chosen.name = f"{key.name}Action"
            settings.previewing = -1
            settings.takes_original = None
            discard_takes(obj, key)
            compat.assign_action(key, chosen)
        else:
            compat.assign_action(key, original)
            settings.previewing = -1
            for shape_key in shape_keys:
                source = _fcurve_in(chosen, key, shape_key)
                if source is None or shape_key not in key.key_blocks:
                    continue
                target = curves.ensure_fcurve(key, shape_key, original)
                record = generated.CurveWrite(original, key, shape_key, target, start - 0.5, end + 0.5)
                curves.copy_range(source, target, start, end)
                record.commit()
            discard_takes(obj, key)
        self.report({"INFO"}, f"Applied {name} (seed {seed}) to frames {start}-{end}")
        return {"FINISHED"}


def _fcurve_in(action, key, shape_key_name):
    fcurves = compat.fcurves_of(action, key)
    return None if fcurves is None else fcurves.find(curves.data_path(shape_key_name))


class MOUTHPIECE_OT_delete_take(_OnTake, bpy.types.Operator):
    """Delete this take"""

    bl_idname = "mouthpiece.delete_take"
    bl_label = "Delete Take"

    def execute(self, context):
        obj, key, index = chosen_take(self, context)
        if obj is None:
            return {"CANCELLED"}
        settings = rig.settings_of(obj)
        previewed = settings.previewing
        if previewed == index:  # the take on screen goes: back to the original
            _preview(obj, key, -1)
            previewed = -1
        action = settings.takes[index].action
        settings.takes.remove(index)
        if action is not None:
            bpy.data.actions.remove(action)
        if not len(settings.takes):
            discard_takes(obj, key)
        else:  # the same take stays on screen and selected, one row up if it was below
            _preview(obj, key, previewed - 1 if previewed > index else previewed)
        return {"FINISHED"}


class MOUTHPIECE_OT_use_take_seed(_OnTake, bpy.types.Operator):
    """Use this take's seed for the next Generate (to reproduce a favourite)"""

    bl_idname = "mouthpiece.use_take_seed"
    bl_label = "Use Seed"

    def execute(self, context):
        obj, key, index = chosen_take(self, context, removes=False)
        if obj is None:
            return {"CANCELLED"}
        settings = context.scene.mouthpiece
        settings.seed = rig.settings_of(obj).takes[index].seed
        settings.use_random_seed = False
        self.report({"INFO"}, f"Seed set to {settings.seed}")
        return {"FINISHED"}


class MOUTHPIECE_OT_discard_takes(bpy.types.Operator):
    """Delete all takes and keep the original animation"""

    bl_idname = "mouthpiece.discard_takes"
    bl_label = "Discard Takes"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        obj, key = _take_context(self, context)
        if obj is None or not _takes_removable(self, obj):
            return {"CANCELLED"}
        discard_takes(obj, key)
        return {"FINISHED"}

