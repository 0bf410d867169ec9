"""One generation job: plan it from the scene (main thread), run it against the sidecar (worker
thread, or inline in background mode), then write its result (main thread).

Frame semantics: audio time 0 is the context range's first scene frame S; request frame k is
scene frame S + k, at the scene's fps (``render.fps / render.fps_base``), which is the fps the
sidecar is asked for. Nothing in the .blend changes before the result is written, so a failed or
cancelled job leaves everything as it was.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

import bpy

from ...core import arkit, client, jobplan, resample
from ...core.client import JobCancelled, SidecarError
from ...core.jobplan import PlanError
from ...core.mixdown import MixdownError
from .. import audio, curves, generated, prefs
from ..performance import data as performance
from ..rig import data as rig, writable
from ..sidecar.data import SIDECAR


@dataclass
class JobPlan:
    kind: str                    # generate | inbetween | regenerate_range | variations
    object_name: str
    mapping: dict[str, str]      # ARKit channel -> shape key (every mapped channel)
    written: dict[str, str]      # the channels this job writes (not locked, muted or switched off)
    kept: dict[str, str]         # ARKit channel -> why it is kept
    touched: dict[str, list[float]]  # channel -> frames of Generated keys the animator moved (pins now)
    store_mapping: bool          # the mapping was automatic: store it on success
    fps: float
    context: tuple[int, int]     # scene frames of the audio (inclusive)
    write: tuple[int, int]       # scene frames whose keys are replaced (inclusive)
    keep_pins: bool
    tolerance: float | None      # None: a key on every frame
    sounds: list = field(repr=False)       # audio.StripSource, read on the main thread
    parameters: dict = field(repr=False)   # build_job_request's arguments but the audio

    @property
    def label(self) -> str:
        return self.kind.replace("_", " ")

    def build_request(self) -> dict:
        """Decode and mix the sound, then the POST body (no bpy: runs on the worker thread)."""
        wav = audio.mix(self.sounds, self.fps, *self.context)
        return client.build_job_request(wav, self.fps, **self.parameters)

    def report(self) -> str:
        """What the job kept of the animator's, for the operator's report ('' when nothing)."""
        parts = [jobplan.summarize_kept(self.kept)]
        moved = [(c, f) for c, frames in self.touched.items() for f in frames]
        if moved:
            shown = ", ".join(f"{c} {f:g}" for c, f in moved[:3]) + (" ..." if len(moved) > 3 else "")
            parts.append(f"{len(moved)} Generated keys you moved or reshaped were kept as pins ({shown})"
                         if self.keep_pins else
                         f"{len(moved)} Generated keys you moved were replaced (Keep Keys as Pins is off)")
        return "; ".join(p for p in parts if p)


def scene_range(scene) -> tuple[int, int]:
    if scene.use_preview_range:
        return scene.frame_preview_start, scene.frame_preview_end
    return scene.frame_start, scene.frame_end


def _selected_key_span(key, mapping) -> tuple[int, int] | None:
    frames = []
    for shape_key in mapping.values():
        fc = curves.find_fcurve(key, shape_key)
        if fc is not None:
            frames += [kp.co[0] for kp in fc.keyframe_points if kp.select_control_point]
    if len(frames) < 2 or min(frames) == max(frames):
        return None
    return int(round(min(frames))), int(round(max(frames)))


def _marker_span(scene) -> tuple[int, int] | None:
    selected = sorted(m.frame for m in scene.timeline_markers if m.select)
    return (selected[0], selected[-1]) if len(selected) == 2 and selected[0] != selected[1] else None


def regenerate_span(scene, key, mapping) -> tuple[int, int]:
    """The preview range, else the span of the selected keys, else two selected markers."""
    if scene.use_preview_range:
        return scene.frame_preview_start, scene.frame_preview_end
    span = _selected_key_span(key, mapping) or _marker_span(scene)
    if span is None:
        raise PlanError("Choose the frames to regenerate: set a preview range, select keys on mapped channels "
                        "(two or more frames), or select two markers")
    return span


def channel_flags(key, mapping) -> tuple[list[str], list[str]]:
    """(locked, muted) ARKit channels: the animator's curves Mouthpiece must never write."""
    locked, muted = [], []
    for channel, shape_key in mapping.items():
        fc = curves.find_fcurve(key, shape_key)
        if fc is None:
            continue
        group = fc.group
        if fc.lock or (group is not None and group.lock):
            locked.append(channel)
        elif fc.mute or (group is not None and getattr(group, "mute", False)):
            muted.append(channel)
    return locked, muted


def groups_off(settings) -> list[str]:
    return [group for group in arkit.GROUPS if not getattr(settings, f"use_{group}")]


def _pins(key, channels, start, end, touched) -> list[tuple[float, str, float]]:
    """(scene frame, channel, value) of the animator's keys, and of touched Generated keys, in [start, end]."""
    keys = []
    for channel, shape_key in channels.items():
        fc = curves.find_fcurve(key, shape_key)
        for pin in curves.pins_in_range(fc, start, end):
            keys.append((pin.frame, channel, pin.value))
        keys += [(s.frame, channel, s.value) for s in touched.get(channel, ()) if start - 0.5 < s.frame < end + 0.5]
    return keys


def _existing(key, mapping, muted, start, end) -> dict[str, list[float]]:
    """Each mapped channel's current values over [start, end]; a muted curve's are the slider's
    (what the face shows while it is muted)."""
    out = {}
    for channel, shape_key in mapping.items():
        if channel in muted:
            out[channel] = [key.key_blocks[shape_key].value] * (end - start + 1)
        else:
            out[channel] = curves.sample(key, shape_key, start, end)
    return out


def plan_job(kind: str, context, samples: int = 1) -> JobPlan:
    """The job for ``kind`` from the scene; changes nothing. See addon.core.jobplan for the rule."""
    scene = context.scene
    settings = scene.mouthpiece
    obj = context.active_object
    try:
        key = rig.shape_key_data(obj)
        writable.check(obj, key, takes=kind == "variations")  # the result can be written and saved
        mapping, automatic = rig.usable_mapping(obj, key)
    except rig.RigError as exc:
        raise PlanError(str(exc)) from None
    if rig.settings_of(obj).previewing >= 0:
        raise PlanError("A take is being previewed: apply it or switch back to Original (Takes panel) first")
    fps = resample.scene_fps(scene.render.fps, scene.render.fps_base)
    bounds = (scene.frame_start, scene.frame_end)
    locked, muted = channel_flags(key, mapping)
    split = jobplan.split_channels(mapping, locked=locked, muted=muted, groups_off=groups_off(settings))
    written = {c: mapping[c] for c in split.written}
    action = generated.action_of(key)
    touched = {}
    for channel, shape_key in written.items():
        states = generated.touched(action, key, shape_key, curves.find_fcurve(key, shape_key))
        if states:
            touched[channel] = states
    keep_pins = settings.use_pins
    if kind == "regenerate_range":
        write = regenerate_span(scene, key, mapping)
    elif kind == "inbetween":
        keep_pins = True  # in-betweening is defined by the pins
        span = scene_range(scene)
        write = jobplan.inbetween_range((f for f, _, _ in _pins(key, written, *span, touched)), span, fps)
    else:
        write = scene_range(scene)
    write = jobplan.clip(write, bounds)
    if write is None:
        raise PlanError(f"The frames to write lie outside the scene's frame range {bounds[0]}-{bounds[1]}")
    context_range = jobplan.context_range(write, bounds, fps)
    start, end = context_range
    if end - start < 1:
        raise PlanError(f"The frame range {start}-{end} is too short")
    try:
        sounds = audio.gather(scene, fps, start, end,
                              only=settings.audio_strip if settings.audio_source == "STRIP" else "")
    except MixdownError as exc:
        raise PlanError(str(exc)) from None
    # Only the touched keys this job would replace count (one moved elsewhere stays as it is).
    touched = {c: inside for c, states in touched.items()
               if (inside := [s for s in states if write[0] - 0.5 < s.frame < write[1] + 0.5])}
    pins = [(int(round(f)) - start, c, v) for f, c, v in _pins(key, written, *write, touched)] if keep_pins else []
    ranges = jobplan.request_ranges(context_range, write, split)
    existing = _existing(key, mapping, muted, start, end) if ranges.needs_existing else None
    seed = random.randrange(0, 2**31 - 1) if settings.use_random_seed else settings.seed
    steps = settings.steps or prefs.pref("default_steps", context) or None
    guidance = settings.guidance or prefs.pref("default_guidance", context) or None
    parameters = dict(samples=samples, seed=seed, steps=steps, guidance=guidance, lip_closure=settings.lip_closure,
                      keys=pins, existing=existing, regenerate=ranges.regenerate,
                      regenerate_channels=ranges.regenerate_channels, offset=settings.offset,
                      **performance.request_fields(scene, sounds, context_range))
    return JobPlan(kind=kind, object_name=obj.name, mapping=mapping, written=written, kept=split.kept,
                   touched={c: [s.frame for s in states] for c, states in touched.items()},
                   store_mapping=automatic, fps=fps, context=context_range, write=write, keep_pins=keep_pins,
                   tolerance=settings.tolerance if settings.key_mode == "REDUCED" else None,
                   sounds=sounds, parameters=parameters)


class Job:
    """Runs a plan against the sidecar; the modal operator reads progress/stage/outcome."""

    def __init__(self, plan: JobPlan, connection: prefs.ConnectionSettings):
        self.plan = plan
        self.connection = connection
        self.progress = 0.0
        self.stage = "starting"
        self.takes: list[client.Take] | None = None
        self.result_fps = 0.0
        self.error: str | None = None
        self.cancelled = False
        self.cancel_event = threading.Event()
        self.done = threading.Event()
        self.thread: threading.Thread | None = None

    def _progress(self, fraction: float, stage: str) -> None:
        self.progress, self.stage = fraction, stage or self.stage

    def run(self) -> None:
        try:
            self.stage = "mixing the sound"
            request = self.plan.build_request()
            self.stage = "connecting to the sidecar"
            sidecar = SIDECAR.connect(self.connection, start=True, cancel_requested=self.cancel_event.is_set)
            if self.cancel_event.is_set():
                raise JobCancelled("cancelled")
            self.stage = "sending audio"
            job_id = sidecar.submit(request)["id"]
            result = sidecar.wait(job_id, on_progress=self._progress, cancel_requested=self.cancel_event.is_set)
            self.stage = "receiving curves"
            self.result_fps, self.takes = client.parse_result(result)
            self.progress = 1.0
        except JobCancelled:
            self.cancelled = True
        except (SidecarError, MixdownError) as exc:
            self.error = str(exc)
        except Exception as exc:  # a bug must still end the job with a report, not hang the modal
            self.error = f"Unexpected error: {exc!r}"
        finally:
            self.done.set()

    def start_thread(self) -> None:
        self.thread = threading.Thread(target=self.run, name="mouthpiece-job", daemon=True)
        self.thread.start()

    def cancel(self) -> None:
        self.cancel_event.set()


def take_values(plan: JobPlan, take: client.Take, result_fps: float) -> dict[str, list[float]]:
    """Channel -> values for each frame of the write range, at the scene fps."""
    start, end = plan.context
    count = resample.frame_count(start, end)
    lo, hi = plan.write[0] - start, plan.write[1] - start
    out = {}
    for channel in plan.written:
        values = take.curves.get(channel)
        if values is None:
            raise SidecarError(f"the sidecar's result lacks the channel {channel}")
        if abs(result_fps - plan.fps) > 1e-6:
            values = resample.resample_channel(values, result_fps, plan.fps, count)
        values = list(values[:count]) + [values[-1]] * max(0, count - len(values))
        out[channel] = [min(1.0, max(0.0, v)) for v in values[lo:hi + 1]]
    return out


def target_key(plan: JobPlan):
    """The job's mesh and Key, checked before anything is written (the animator may have
    deleted or renamed things while the job ran)."""
    obj = bpy.data.objects.get(plan.object_name)
    if obj is None or obj.type != "MESH" or obj.data.shape_keys is None:
        raise PlanError(f"'{plan.object_name}' or its shape keys went away while the job ran; nothing was written")
    key = obj.data.shape_keys
    missing = sorted(k for k in plan.mapping.values() if k not in key.key_blocks)
    if missing:
        raise PlanError(f"shape keys {', '.join(missing[:4])} went away while the job ran; nothing was written")
    return obj, key


def write_take(plan: JobPlan, key, values: dict[str, list[float]], action=None) -> int:
    """Write one take's curves over the write range of the written channels; returns the number of
    keys written. Generated keys the animator touched become pins first (with Keep Keys as Pins),
    and each curve's key record is renewed (addon.blender.generated)."""
    written = 0
    reach = (plan.write[0] - 0.5, plan.write[1] + 0.5)
    extends = plan.context[0] < plan.write[0], plan.context[1] > plan.write[1]
    for channel, shape_key in plan.written.items():
        fcurve = curves.ensure_fcurve(key, shape_key, action)
        target = action if action is not None else generated.action_of(key)
        if plan.keep_pins and channel in plan.touched:
            generated.make_pins(fcurve, plan.touched[channel])
        if not len(fcurve.keyframe_points):
            # The sidecar kept the slider's value outside the range: keep it there as keys too.
            curves.hold_value(fcurve, key.key_blocks[shape_key].value,
                              [edge for edge, beyond in zip(reach, extends) if beyond])
        record = generated.CurveWrite(target, key, shape_key, fcurve, *reach)
        written += curves.write_range(fcurve, plan.write[0], values[channel], plan.tolerance, plan.keep_pins,
                                      context=plan.context)
        record.commit()
    return written
