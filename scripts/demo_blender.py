"""The Blender half of the demo: run inside headless Blender's Python (a .venv-bpy* environment,
bpy from PyPI) by `python -m server.demo` (scripts/demo), never on its own in a GUI.

    .venv-bpy45/bin/python scripts/demo_blender.py PLAN.json

PLAN.json (written by server/demo/run.py) holds the story (server/demo/story.py: frames of the
pins, the range to regenerate, the takes) and the output paths. The add-on is registered the
way a script does it and driven only through its operators (mouthpiece.*), which run to
completion in background mode. MOUTHPIECE_URL and MOUTHPIECE_TOKEN point it at the sidecar the
demo started. What happened (timings, pins met, curves after each stage) goes to the plan's
``result`` JSON, which the demo's figures and summary read.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import bpy  # noqa: E402  (the repository root must be on sys.path first)

import addon  # noqa: E402
from addon.blender import compat, curves  # noqa: E402
from addon.core import arkit, curvefile  # noqa: E402

HEAD_CAMERA = {"location": (0.0, -5.2, -0.05), "lens": 80.0}  # the head fills the frame


class DemoError(RuntimeError):
    pass


class Stages:
    """Seconds per named stage, in order."""

    def __init__(self):
        self.seconds: list[tuple[str, float]] = []

    def run(self, name, fn, *args):
        print(f"[demo_blender] {name}...", flush=True)
        start = time.perf_counter()
        value = fn(*args)
        self.seconds.append((name, round(time.perf_counter() - start, 3)))
        return value


def op(operator, **kwargs):
    """Run a mouthpiece operator; an error report (RuntimeError from bpy.ops) or a cancel stops the demo."""
    name = operator.idname_py()
    try:
        result = operator(**kwargs)
    except RuntimeError as exc:
        raise DemoError(f"{name} failed: {exc}".strip()) from None
    if result != {"FINISHED"}:
        raise DemoError(f"{name} returned {sorted(result)} (see its report above)")


def head_key(obj):
    return obj.data.shape_keys


def sample_all(obj, start: int, end: int) -> list[list[float]]:
    """Every ARKit channel's value at each frame of [start, end] (the demo head maps all 52 by name)."""
    key = head_key(obj)
    columns = [curves.sample(key, channel, start, end) for channel in arkit.CHANNELS]
    return [[round(col[i], 6) for col in columns] for i in range(end - start + 1)]


def set_up_scene(story):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    addon.register()
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = int(story["fps"]), 1.0
    scene.mouthpiece.steps = story.get("steps") or 0
    return scene


def add_head(scene):
    op(bpy.ops.mouthpiece.add_demo_head)
    return bpy.context.active_object


def add_sound_strip(scene, story, audio_path):
    editor = scene.sequence_editor_create()
    strips = editor.strips if hasattr(editor, "strips") else editor.sequences  # 4.4 renamed them
    strip = strips.new_sound("hello", str(audio_path), 1, story["frame_start"])
    strip.sound.pack()  # demo.blend carries its sound (and the add-on reads packed sounds)
    scene.frame_start, scene.frame_end = story["frame_start"], story["frame_end"]
    if int(strip.frame_final_end) - 1 != story["frame_end"]:
        raise DemoError(f"the sound strip ends at frame {strip.frame_final_end - 1}, "
                        f"the story expected {story['frame_end']}")
    scene.frame_current = story["frame_start"]
    return strip


def generate(scene, story):
    scene.mouthpiece.seed = story["generate_seed"]
    op(bpy.ops.mouthpiece.generate)


def pins_and_inbetween(scene, obj, story):
    key = head_key(obj)
    retyped = 0
    for pin in story["pins"]:
        scene.frame_set(pin["frame"])  # the sliders now show the generated pose at this frame
        for channel, value in pin["values"].items():
            key.key_blocks[channel].value = value
        op(bpy.ops.mouthpiece.pin_pose)
        retyped += _make_pins(key, pin["frame"])
    op(bpy.ops.mouthpiece.inbetween)
    misses = []
    for pin in story["pins"]:
        for channel, value in pin["values"].items():
            got = curves.find_fcurve(key, channel).evaluate(pin["frame"])
            misses.append(abs(got - value))
    return {"max_miss": max(misses), "pin_pose_left_generated": retyped}


def _make_pins(key, frame) -> int:
    """Pin Pose over a key Mouthpiece wrote keeps that key's type GENERATED (Blender's insert
    replaces the value only), so it would not count as a pin. Make the pose's keys animator
    keys, as Pin Pose means to; returns how many needed it (0 once the add-on does it)."""
    count = 0
    for fcurve in compat.fcurves_of(key.animation_data.action, key):
        for point in fcurve.keyframe_points:
            if point.co[0] == frame and point.type == curves.GENERATED:
                point.type = "KEYFRAME"
                count += 1
    return count


def with_preview_range(scene, start: int, end: int, fn):
    scene.use_preview_range = True
    scene.frame_preview_start, scene.frame_preview_end = start, end
    try:
        return fn()
    finally:
        scene.use_preview_range = False


def regenerate(scene, obj, story):
    spec = story["regenerate"]
    before = sample_all(obj, scene.frame_start, scene.frame_end)
    scene.mouthpiece.seed = spec["seed"]
    with_preview_range(scene, spec["start"], spec["end"], lambda: op(bpy.ops.mouthpiece.regenerate_range))
    after = sample_all(obj, scene.frame_start, scene.frame_end)
    changes = [(abs(a - b), scene.frame_start + i, channel)
               for i, (row_after, row_before) in enumerate(zip(after, before))
               if not spec["start"] <= scene.frame_start + i <= spec["end"]
               for channel, a, b in zip(arkit.CHANNELS, row_after, row_before)]
    change, frame, channel = max(changes)
    return {"max": change, "frame": frame, "channel": channel}


def variations(scene, obj, story):
    spec = story["variations"]
    scene.mouthpiece.seed = spec["seed"]
    with_preview_range(scene, spec["start"], spec["end"],
                       lambda: op(bpy.ops.mouthpiece.variations, count=spec["count"]))
    settings = obj.mouthpiece
    if len(settings.takes) != spec["count"]:
        raise DemoError(f"mouthpiece.variations made {len(settings.takes)} takes, not {spec['count']}")
    takes = []
    for index, take in enumerate(settings.takes):
        op(bpy.ops.mouthpiece.preview_take, index=index)  # what the animator clicks through
        takes.append({"name": take.name, "seed": take.seed, "frames": sample_all(obj, spec["start"], spec["end"])})
    keep = spec["keep"]
    op(bpy.ops.mouthpiece.apply_take, index=keep)
    return takes, takes[keep]


def mark_timeline(scene, story, kept):
    """Markers, so whoever opens demo.blend sees where each step of the demo happened."""
    for pin in story["pins"]:
        scene.timeline_markers.new(f"pin: {pin['word']} {pin['phone']}", frame=pin["frame"])
    spec = story["regenerate"]
    scene.timeline_markers.new(f"regenerated (seed {spec['seed']})", frame=spec["start"])
    scene.timeline_markers.new(f"{kept['name']} (seed {kept['seed']}) applied", frame=story["variations"]["start"])
    for marker in scene.timeline_markers:
        marker.select = False


def write_csv(path, story, frames):
    curvefile.write_csv(path, curvefile.CurveTake(fps=story["fps"], frames=frames))


def set_up_render(scene, obj, size: int):
    camera = bpy.data.objects.new("Camera", bpy.data.cameras.new("Camera"))
    scene.collection.objects.link(camera)
    camera.location = HEAD_CAMERA["location"]
    camera.rotation_euler = (math.pi / 2, 0.0, 0.0)  # look along +Y at the head's face
    camera.data.lens = HEAD_CAMERA["lens"]
    scene.camera = camera
    scene.render.engine = "BLENDER_WORKBENCH"  # draws in software (llvmpipe) without a GPU
    shading = scene.display.shading
    shading.light, shading.color_type = "STUDIO", "MATERIAL"
    shading.show_cavity = True
    shading.show_specular_highlight = True
    scene.render.resolution_x = scene.render.resolution_y = size
    scene.render.resolution_percentage = 100
    scene.render.film_transparent = False
    scene.render.image_settings.file_format = "PNG"
    scene.view_settings.view_transform = "Standard"  # the materials' own colours, not a film look
    world = scene.world or bpy.data.worlds.new("World")
    scene.world = world
    world.color = (0.93, 0.93, 0.92)
    obj.select_set(False)


def save_blend(scene, path):
    scene.frame_set(scene.frame_start)
    bpy.context.preferences.filepaths.save_version = 0  # no demo.blend1 backup next to it
    bpy.ops.wm.save_as_mainfile(filepath=str(path), compress=True)


def render_frames(scene, story, folder):
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for shot in story["render"]:
        scene.frame_set(shot["frame"])
        path = folder / f"frame_{shot['frame']:04d}.png"
        scene.render.filepath = str(path)
        bpy.ops.render.render(write_still=True)
        if not path.is_file():
            raise DemoError(f"Blender rendered no image for frame {shot['frame']} ({path})")
        written.append(str(path))
    return written


def main(plan_path: Path) -> dict:
    plan = json.loads(plan_path.read_text())
    story, out = plan["story"], plan["outputs"]
    stages = Stages()
    scene = stages.run("register add-on, new scene", set_up_scene, story)
    obj = stages.run("add demo head", add_head, scene)
    stages.run("add sound strip", add_sound_strip, scene, story, plan["audio"])
    stages.run("generate", generate, scene, story)
    after_generate = sample_all(obj, scene.frame_start, scene.frame_end)
    pins = stages.run("pins + in-between", pins_and_inbetween, scene, obj, story)
    after_inbetween = sample_all(obj, scene.frame_start, scene.frame_end)
    outside = stages.run("regenerate range", regenerate, scene, obj, story)
    takes, kept = stages.run("3 variations, apply one", variations, scene, obj, story)
    final = sample_all(obj, scene.frame_start, scene.frame_end)
    mark_timeline(scene, story, kept)
    stages.run("write demo.csv", write_csv, out["csv"], story, final)
    stages.run("set up camera", set_up_render, scene, obj, plan["render_size"])
    stages.run("save demo.blend", save_blend, scene, out["blend"])
    frames = stages.run("render frames", render_frames, scene, story, Path(out["frames_dir"]))
    key = head_key(obj)
    action = key.animation_data.action
    return {
        "ok": True,
        "blender": bpy.app.version_string,
        "stages": stages.seconds,
        "pins": pins,
        "regenerate_outside_change": outside,
        "takes": [{"name": t["name"], "seed": t["seed"]} for t in takes],
        "kept": {"name": kept["name"], "seed": kept["seed"]},
        "take_frames": [t["frames"] for t in takes],
        "after_generate": after_generate,
        "after_inbetween": after_inbetween,
        "action": action.name,
        "keys": sum(len(fc.keyframe_points) for fc in compat.fcurves_of(action, key)),
        "rendered": frames,
    }


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    plan_file = Path(sys.argv[1])
    result_file = Path(json.loads(plan_file.read_text())["outputs"]["result"])
    try:
        result = main(plan_file)
        code = 0
    except DemoError as exc:  # an operator's own report: it says what went wrong
        result, code = {"ok": False, "error": str(exc)}, 1
    except Exception as exc:  # a bug: the traceback (in the log) helps its report
        traceback.print_exc()
        result, code = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}, 1
    result_file.write_text(json.dumps(result))
    sys.stdout.flush()
    sys.stderr.flush()
    # After rendering, the bpy module can hang in its exit handlers (a GPU worker thread's
    # condition variable): leave without them; everything is written and flushed.
    os._exit(code)
