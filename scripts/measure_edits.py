"""Edge joins and seed reproduction of every operation that writes part of the timeline, measured
in real headless Blender against a real sidecar. Prints one table; docs/ADDON.md records it.

    .venv-bpy45/bin/python scripts/measure_edits.py [--audio WAV] [--rig FILE.blend] [--addon-root DIR]
        [--checkpoint DIR] [--fps 24] [--range 60:100]

--audio: the dialogue (default: an espeak-ng sentence made here); --rig: a .blend whose active
(or first) mesh has ARKit shape keys under any naming (default: the demo head); --addon-root: a
checkout whose ``addon`` package and sidecar are measured (another commit, for a before/after); --checkpoint:
the sidecar's model (default: the shipped one). The sidecar runs in the project's .venv.

For each path it measures, over all mapped channels: the largest change outside the written range
(quarter frames), the largest frame step across an edge, and that step as a multiple of the
largest step the curve makes anywhere else (1.0 or less: the edge is no jump at all); then
whether a take's seed reproduces the take through Regenerate Range and Generate.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--audio")
    p.add_argument("--rig")
    p.add_argument("--addon-root", default=str(ROOT))
    p.add_argument("--checkpoint")
    p.add_argument("--fps", type=int, default=24)
    p.add_argument("--range", default="60:100", help="START:END, scene frames of the partial writes")
    p.add_argument("--sound-start", type=int, default=25, help="scene frame where the sound strip starts")
    return p.parse_args()


args = parse_args()
sys.path.insert(0, args.addon_root)

import bpy  # noqa: E402

import addon  # noqa: E402
from addon.blender import curves  # noqa: E402
from addon.core import arkit  # noqa: E402


def start_sidecar(checkpoint):
    python = ROOT / ".venv" / "bin" / "python"
    command = [str(python), "-m", "server", "serve", "--port", "0", "--state-file",
               os.path.join(tempfile.mkdtemp(), "sidecar.json")]
    if checkpoint:
        command += ["--checkpoint", checkpoint]
    # The sidecar of the same checkout as the add-on (python -m runs the package in its cwd).
    process = subprocess.Popen(command, cwd=args.addon_root, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    info = json.loads(process.stdout.readline())
    os.environ["MOUTHPIECE_URL"], os.environ["MOUTHPIECE_TOKEN"] = info["url"], info["token"]
    return process


def speech(path):
    if path:
        return path
    out = os.path.join(tempfile.mkdtemp(), "line.wav")
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", out,
                    "Maybe we could meet by the bridge, but bring the map, please. "
                    "Then we walk home slowly and talk about everything we saw."], check=True)
    return out


def scene_with_rig(rig, audio, fps, sound_start):
    if rig:
        bpy.ops.wm.open_mainfile(filepath=rig)
        obj = bpy.context.view_layer.objects.active
        if obj is None or obj.type != "MESH":
            obj = next(o for o in bpy.context.scene.objects if o.type == "MESH" and o.data.shape_keys)
        bpy.context.view_layer.objects.active = obj
    else:
        bpy.ops.wm.read_factory_settings(use_empty=True)
        bpy.ops.mouthpiece.add_demo_head()
        obj = bpy.context.active_object
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = fps, 1.0
    editor = scene.sequence_editor_create()
    strips = editor.strips if hasattr(editor, "strips") else editor.sequences
    strip = strips.new_sound("line", audio, 2, sound_start)
    end = getattr(strip, "right_handle", None) or strip.frame_final_end
    scene.frame_start, scene.frame_end = 1, int(end) + 12
    return scene, obj


def mapped(obj):
    key = obj.data.shape_keys
    names = [kb.name for kb in key.key_blocks]
    return {c: n for c, n in arkit.match_names(names).items() if n != key.reference_key.name}


def sample(obj, shape_key, frames):
    fc = curves.find_fcurve(obj.data.shape_keys, shape_key)
    if fc is None:
        value = obj.data.shape_keys.key_blocks[shape_key].value
        return [value for _ in frames]
    return [fc.evaluate(f) for f in frames]


def snapshot(obj, channels, frames):
    return {c: sample(obj, k, frames) for c, k in channels.items()}


def edge_figures(obj, channels, before, lo, hi, first, last):
    """(largest change outside, largest edge step, its channel, that channel's largest step elsewhere)."""
    outside = [i / 4 for i in range(4 * first, 4 * last + 1) if not lo - 0.5 < i / 4 < hi + 0.5]
    changed, worst = 0.0, (-1.0, "", 0.0, 0.0)
    for c, k in channels.items():
        now = sample(obj, k, outside)
        changed = max(changed, max(abs(a - b) for a, b in zip(now, before[c])))
        v = dict(zip(range(first, last + 1), sample(obj, k, range(first, last + 1))))
        steps = {f: abs(v[f + 1] - v[f]) for f in range(first, last)}
        edge = max(steps[lo - 1], steps[hi])
        elsewhere = max(s for f, s in steps.items() if f not in (lo - 1, hi))
        if edge - elsewhere > worst[0]:
            worst = (edge - elsewhere, c, edge, elsewhere)
    return changed, worst[2], worst[1], worst[3]


def largest_step(obj, shape_key, first, last, skip=()):
    v = sample(obj, shape_key, range(first, last + 1))
    return max(abs(v[i + 1] - v[i]) for i in range(len(v) - 1) if first + i not in skip)


def main():
    lo, hi = (int(x) for x in args.range.split(":"))
    process = start_sidecar(args.checkpoint)
    try:
        addon.register()
        audio = speech(args.audio)
        rows = []
        for path in ("generate over preview range", "variations, apply take 2", "regenerate range"):
            scene, obj = scene_with_rig(args.rig, audio, args.fps, args.sound_start)
            channels = mapped(obj)
            scene.mouthpiece.seed = 1
            bpy.ops.mouthpiece.generate()
            first, last = scene.frame_start, scene.frame_end
            outside = [i / 4 for i in range(4 * first, 4 * last + 1) if not lo - 0.5 < i / 4 < hi + 0.5]
            before = snapshot(obj, channels, outside)
            scene.mouthpiece.seed = 7
            scene.use_preview_range = True
            scene.frame_preview_start, scene.frame_preview_end = lo, hi
            if path.startswith("generate"):
                bpy.ops.mouthpiece.generate()
            elif path.startswith("variations"):
                bpy.ops.mouthpiece.variations(count=3)
                bpy.ops.mouthpiece.apply_take(index=1)
            else:
                bpy.ops.mouthpiece.regenerate_range()
            scene.use_preview_range = False
            rows.append((path, *edge_figures(obj, channels, before, lo, hi, first, last)))
        # In-between: jawOpen keyed 0.8 at the range's first frame over generated animation, a
        # second key at its last; the jump into the first pin and the overshoot just past it.
        scene, obj = scene_with_rig(args.rig, audio, args.fps, args.sound_start)
        channels = mapped(obj)
        scene.mouthpiece.seed = 1
        bpy.ops.mouthpiece.generate()
        jaw = curves.find_fcurve(obj.data.shape_keys, channels["jawOpen"])
        for frame, value in ((lo, 0.8), (hi, 0.1)):
            jaw.keyframe_points.insert(frame, value).type = "KEYFRAME"
        scene.mouthpiece.seed = 7
        bpy.ops.mouthpiece.inbetween()
        v = {f: jaw.evaluate(f) for f in range(lo - 3, lo + 4)}
        inbetween = (abs(v[lo] - v[lo - 1]), max(v[lo + 1], v[lo + 2]) - 0.8,
                     largest_step(obj, channels["jawOpen"], scene.frame_start, scene.frame_end, skip=(lo - 1,)))
        # seed reproduction: Variations over the preview range, take 2's seed, then the other paths
        scene, obj = scene_with_rig(args.rig, audio, args.fps, args.sound_start)
        channels = mapped(obj)
        bpy.ops.mouthpiece.generate()
        scene.use_preview_range = True
        scene.frame_preview_start, scene.frame_preview_end = lo, hi
        scene.mouthpiece.seed = 100
        bpy.ops.mouthpiece.variations(count=3)
        bpy.ops.mouthpiece.preview_take(index=1)
        frames = range(lo, hi + 1)
        take = snapshot(obj, channels, frames)
        bpy.ops.mouthpiece.use_take_seed(index=1)
        bpy.ops.mouthpiece.discard_takes()
        reproduced = []
        for path in ("regenerate_range", "generate"):
            getattr(bpy.ops.mouthpiece, path)()
            now = snapshot(obj, channels, frames)
            reproduced.append((path, max(max(abs(a - b) for a, b in zip(now[c], take[c])) for c in channels)))
        addon.unregister()
    finally:
        process.terminate()
        process.wait(30)
    print(f"addon from {args.addon_root}; rig {args.rig or 'demo head'}; {len(channels)} mapped channels; "
          f"{args.fps} fps; range {lo}-{hi}")
    print("edge step: the largest frame-to-frame change across an edge, on the channel where it most exceeds")
    print("the largest change that channel makes anywhere else (elsewhere)")
    print(f"{'path':30s} {'outside change':>15s} {'edge step':>10s} {'elsewhere':>10s}  channel")
    for path, changed, step, channel, elsewhere in rows:
        print(f"{path:30s} {changed:15.2e} {step:10.4f} {elsewhere:10.4f}  {channel}")
    print(f"in-between: jawOpen step into the 0.8 pin {inbetween[0]:.3f} (largest elsewhere {inbetween[2]:.3f}), "
          f"overshoot past it {inbetween[1]:+.3f}")
    for path, diff in reproduced:
        print(f"take 2's seed through {path}: largest difference {diff:.2e}")


main()
