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

from ...core import client, resample
from ...core.client import JobCancelled, SidecarError
from ...core.mixdown import MixdownError
from .. import audio, curves, prefs
from ..rig import data as rig, writable
from ..sidecar.data import SIDECAR


class PlanError(ValueError):
    """The scene is not ready for this job; the message says what to do."""


@dataclass
class JobPlan:
    kind: str                    # generate | inbetween | regenerate_range | variations
    object_name: str
    mapping: dict[str, str]      # ARKit channel -> shape key
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


def _pins(key, mapping, start, end, context_start) -> list[tuple[int, str, float]]:
    keys = []
    for channel, shape_key in mapping.items():
        for pin in curves.pins_in_range(curves.find_fcurve(key, shape_key), start, end):
            keys.append((int(round(pin.frame)) - context_start, channel, pin.value))
    return keys


def plan_job(kind: str, context, samples: int = 1) -> JobPlan:
    scene = context.scene
    settings = scene.mouthpiece
    obj = context.active_object
    try:
        key = rig.shape_key_data(obj)
        writable.check(obj, key, takes=kind == "variations")  # the result can be written and saved
        mapping, automatic = rig.usable_mapping(obj, key)
    except rig.RigError as exc:
        raise PlanError(str(exc)) from None
    if obj.mouthpiece.previewing >= 0:
        raise PlanError("A take is being previewed: apply it or switch back to Original (Takes panel) first")
    fps = resample.scene_fps(scene.render.fps, scene.render.fps_base)
    keep_pins = settings.use_pins
    if kind in ("generate", "variations"):
        context_range = scene_range(scene)
        write = context_range
    else:
        context_range = (scene.frame_start, scene.frame_end) if kind == "regenerate_range" else scene_range(scene)
        if kind == "regenerate_range":
            write = regenerate_span(scene, key, mapping)
        else:
            keep_pins = True  # in-betweening is defined by the pins
            pin_frames = sorted({f for f, _, _ in _pins(key, mapping, *context_range, 0)})
            if len(pin_frames) < 2:
                raise PlanError("In-between needs keys on at least two frames of mapped channels: "
                                "pose the face and press Pin Pose at two or more frames")
            write = (pin_frames[0], pin_frames[-1])
        write = (max(write[0], context_range[0]), min(write[1], context_range[1]))
        if write[1] < write[0]:
            raise PlanError(f"The frames to regenerate lie outside the frame range "
                            f"{context_range[0]}-{context_range[1]}")
    start, end = context_range
    if end - start < 1:
        raise PlanError(f"The frame range {start}-{end} is too short")
    try:
        sounds = audio.gather(scene, fps, start, end,
                              only=settings.audio_strip if settings.audio_source == "STRIP" else "")
    except MixdownError as exc:
        raise PlanError(str(exc)) from None
    pins = _pins(key, mapping, *write, start) if keep_pins else []
    existing = None
    regenerate = None
    if kind in ("inbetween", "regenerate_range"):
        existing = {c: curves.sample(key, k, start, end) for c, k in mapping.items()}
        regenerate = (write[0] - start, write[1] - start)
    seed = random.randrange(0, 2**31 - 1) if settings.use_random_seed else settings.seed
    steps = settings.steps or prefs.pref("default_steps", context) or None
    guidance = settings.guidance or prefs.pref("default_guidance", context) or None
    parameters = dict(samples=samples, seed=seed, steps=steps, guidance=guidance, lip_closure=settings.lip_closure,
                      keys=pins, existing=existing, regenerate=regenerate)
    return JobPlan(kind=kind, object_name=obj.name, mapping=mapping, store_mapping=automatic, fps=fps,
                   context=context_range, write=write, keep_pins=keep_pins,
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
    for channel in plan.mapping:
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
    """Write one take's curves over the write range; returns the number of keys written."""
    written = 0
    for channel, shape_key in plan.mapping.items():
        fcurve = curves.ensure_fcurve(key, shape_key, action)
        written += curves.write_range(fcurve, plan.write[0], values[channel], plan.tolerance, plan.keep_pins,
                                      context=plan.context)
    return written
