"""Generate, In-between, Regenerate Range, Pin Pose and Cancel.

The job operators share ``JobOperator``: invoke() plans the job, starts it on a worker thread
and polls it from a modal timer (Esc cancels), so Blender stays responsive; execute() (scripts,
and everything in background mode) runs it to completion before returning. The result is
written in one go at the end, which makes it one undo step; a failed or cancelled job writes
nothing.
"""

from __future__ import annotations

import bpy

from ...core import arkit
from .. import curves, prefs
from ..rig import data as rig, writable
from ..sidecar.operator import redraw_panels
from . import data
from .job import Job, PlanError, channel_flags, groups_off, plan_job, take_values, target_key, write_take


# UNDO without REGISTER: one undo step, and no redo panel, whose redo would run the whole job
# again synchronously and freeze the UI.
JOB_OPTIONS = {"UNDO"}


def cancel_running_job() -> None:
    if data.ACTIVE.job is not None:
        data.ACTIVE.job.cancel()


class JobOperator:
    """Mixin for operators that run a sidecar job."""

    kind = "generate"
    _timer = None

    def samples(self, context) -> int:
        return 1

    def _start(self, context) -> Job | None:
        if data.ACTIVE.running:
            self.report({"ERROR"}, "A Mouthpiece job is already running: wait for it or cancel it (Esc)")
            return None
        try:
            plan = plan_job(self.kind, context, self.samples(context))
        except PlanError as exc:
            self.report({"ERROR"}, str(exc))
            return None
        job = Job(plan, prefs.connection_settings(context))
        data.ACTIVE.begin(job)
        return job

    def _finish(self, context, job: Job) -> set[str]:
        data.ACTIVE.end()
        redraw_panels()
        if job.cancelled:
            self.report({"WARNING"}, f"Mouthpiece {job.plan.label} cancelled; nothing was changed")
            return {"CANCELLED"}
        if job.error:
            self.report({"ERROR"}, job.error)
            return {"CANCELLED"}
        try:
            message = self.apply(context, job)
        except Exception as exc:  # PlanError and any bug: apply checks everything before it writes
            self.report({"ERROR"}, f"Could not write the result: {exc}")
            return {"CANCELLED"}
        self.report({"INFO"}, message)
        return {"FINISHED"}

    def apply(self, context, job: Job) -> str:
        plan = job.plan
        obj, key = target_key(plan)
        values = take_values(plan, job.takes[0], job.result_fps)
        if plan.store_mapping:
            rig.store_mapping(obj, plan.mapping)
        written = write_take(plan, key, values)
        kept = plan.report()
        return (f"Mouthpiece: {plan.label} wrote {written} keys on {len(plan.written)} channels, "
                f"frames {plan.write[0]}-{plan.write[1]} (seed {job.takes[0].seed})" + (f"; {kept}" if kept else ""))

    def execute(self, context):
        job = self._start(context)
        if job is None:
            return {"CANCELLED"}
        job.run()
        return self._finish(context, job)

    def invoke(self, context, event):
        if bpy.app.background:
            return self.execute(context)
        job = self._start(context)
        if job is None:
            return {"CANCELLED"}
        job.start_thread()
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.2, window=context.window)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        job = data.ACTIVE.job
        if event.type == "ESC" and event.value == "PRESS" and job is not None:
            job.cancel()
            redraw_panels()
            return {"RUNNING_MODAL"}
        if event.type != "TIMER" or job is None:
            return {"PASS_THROUGH"}
        redraw_panels()
        if not job.done.is_set():
            return {"PASS_THROUGH"}
        context.window_manager.event_timer_remove(self._timer)
        return self._finish(context, job)


class MOUTHPIECE_OT_generate(JobOperator, bpy.types.Operator):
    """Generate lip sync for the active mesh's mapped shape keys over the frame range (the preview range when set) from the scene's sound"""

    bl_idname = "mouthpiece.generate"
    bl_label = "Generate"
    bl_options = JOB_OPTIONS
    kind = "generate"


class MOUTHPIECE_OT_inbetween(JobOperator, bpy.types.Operator):
    """Fill the frames between your keyed poses (pins) from the sound, meeting each pin exactly"""

    bl_idname = "mouthpiece.inbetween"
    bl_label = "In-between"
    bl_options = JOB_OPTIONS
    kind = "inbetween"


class MOUTHPIECE_OT_regenerate_range(JobOperator, bpy.types.Operator):
    """Generate again only the preview range, the span of the selected keys, or between two selected markers; everything outside stays as it is"""

    bl_idname = "mouthpiece.regenerate_range"
    bl_label = "Regenerate Range"
    bl_options = JOB_OPTIONS
    kind = "regenerate_range"


def _pinnable(context, operator):
    """(key, channel -> shape key) that Pin Pose and Keys to Pins may key: mapped, in a switched-on
    group, not locked; None after reporting what to do."""
    obj = context.active_object
    try:
        key = rig.shape_key_data(obj)
        writable.check(obj, key)  # keys written here must be saved with the file
        mapping, automatic = rig.usable_mapping(obj, key)
    except rig.RigError as exc:
        operator.report({"ERROR"}, str(exc))
        return None, None
    if automatic:
        rig.store_mapping(obj, mapping)
    locked, _ = channel_flags(key, mapping)
    off = set(groups_off(context.scene.mouthpiece))
    return key, {c: k for c, k in mapping.items() if c not in locked and arkit.group_of(c) not in off}


class MOUTHPIECE_OT_pin_pose(bpy.types.Operator):
    """Key the current value of the mapped shape keys at the current frame: a pose the next generation must meet"""

    bl_idname = "mouthpiece.pin_pose"
    bl_label = "Pin Pose"
    bl_options = {"REGISTER", "UNDO"}

    selected_only: bpy.props.BoolProperty(
        name="Selected Channels Only", default=False,
        description="Pin only the channels whose F-curves are selected in the Graph Editor or Dope Sheet")

    def execute(self, context):
        key, channels = _pinnable(context, self)
        if key is None:
            return {"CANCELLED"}
        if self.selected_only:
            channels = {c: k for c, k in channels.items()
                        if (fc := curves.find_fcurve(key, k)) is not None and fc.select}
            if not channels:
                self.report({"ERROR"}, "No mapped channel is selected: select the shape-key channels to pin in the "
                                       "Graph Editor or Dope Sheet (or use Pin Pose for every channel)")
                return {"CANCELLED"}
        frame = context.scene.frame_current
        for shape_key in channels.values():
            value = key.key_blocks[shape_key].value
            fcurve = curves.ensure_fcurve(key, shape_key)
            point = fcurve.keyframe_points.insert(frame, value, keyframe_type="KEYFRAME")
            # insert() over an existing (generated) key replaces only its value: make it a pin.
            point.type = "KEYFRAME"
        self.report({"INFO"}, f"Pinned {len(channels)} channels at frame {frame}")
        return {"FINISHED"}


class MOUTHPIECE_OT_keys_to_pins(bpy.types.Operator):
    """Make the selected keys on mapped channels pins: the animator's own keys, which every generation meets and keeps"""

    bl_idname = "mouthpiece.keys_to_pins"
    bl_label = "Keys to Pins"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        key, channels = _pinnable(context, self)
        if key is None:
            return {"CANCELLED"}
        count = 0
        for shape_key in channels.values():
            fcurve = curves.find_fcurve(key, shape_key)
            for kp in fcurve.keyframe_points if fcurve is not None else ():
                if kp.select_control_point and kp.type == curves.GENERATED:
                    kp.type = "KEYFRAME"
                    count += 1
        if not count:
            self.report({"ERROR"}, "Select Generated keys on mapped channels first (Graph Editor or Dope Sheet)")
            return {"CANCELLED"}
        self.report({"INFO"}, f"{count} keys are pins now")
        return {"FINISHED"}


class MOUTHPIECE_OT_cancel(bpy.types.Operator):
    """Stop the running Mouthpiece job; nothing is changed"""

    bl_idname = "mouthpiece.cancel"
    bl_label = "Cancel"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context):
        return data.ACTIVE.running

    def execute(self, context):
        cancel_running_job()
        return {"FINISHED"}

