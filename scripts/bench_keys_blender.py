"""Key reduction in real headless Blender: keys, accuracy, jitter and write time (scripts/bench_keys).

    .venv-bpy45/bin/python scripts/bench_keys_blender.py DATA.json [--written OUT.json] [--settings every 0.5 tol=0.01 ...]

DATA.json is made by ``scripts/bench_keys_data.py prepare`` (the shipped model on real speech).
Write times are of ``curves.write_range`` on each of the 52 channels of the demo head in a fresh
Action, as the add-on writes a take: CPU seconds of this process (the first run, whose caches are
cold, and the best of --repeat; CPU time, since other load on the machine inflates wall time) and
wall seconds (best and median). The settings take turns.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import bpy  # noqa: E402

import addon  # noqa: E402
from addon.blender import curves  # noqa: E402
from addon.core import keyreduce  # noqa: E402
from addon.core.arkit import CHANNELS, INDEX  # noqa: E402

JAW = INDEX["jawOpen"]


def jitter(values) -> float:
    """Mean |second difference| (server.evaluation.model_figures.jitter, one channel)."""
    if len(values) < 3:
        return 0.0
    return sum(abs(values[i - 1] - 2 * values[i] + values[i + 1]) for i in range(1, len(values) - 1)) / (len(values) - 2)


def fresh_key(fps: float):
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = int(fps), 1.0
    bpy.ops.mouthpiece.add_demo_head()
    return bpy.context.active_object.data.shape_keys


def write_all(key, columns, tolerance):
    """Write every channel as write_take does; returns (wall s, CPU s, keys, fcurves)."""
    fcurves = {c: curves.ensure_fcurve(key, c) for c in CHANNELS}
    wall, cpu = time.perf_counter(), time.process_time()
    keys = sum(curves.write_range(fcurves[c], 1, columns[c], tolerance, True) for c in CHANNELS)
    return time.perf_counter() - wall, time.process_time() - cpu, keys, fcurves


def tolerance_of(setting: str):
    """'every': a key on every frame; 'tol=X': tolerance X; else a Simplify amount."""
    if setting == "every":
        return None
    if setting.startswith("tol="):
        return float(setting[4:])
    return keyreduce.tolerance_for(float(setting))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data")
    parser.add_argument("--settings", nargs="*", default=None,
                        help="'every' or a Simplify amount (a tolerance on code without Simplify)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--written", help="write the evaluated curves of the real-speech files here (JSON)")
    args = parser.parse_args(sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:])
    data = json.loads(Path(args.data).read_text())
    fps = data["fps"]
    settings = args.settings or ["every", str(keyreduce.DEFAULT_SIMPLIFY)]
    addon.register()
    try:
        print(f"Blender {bpy.app.version_string}; {data['model']}; {fps:g} fps")
        long = data["long"]["frames"]
        n = len(long)
        columns = {c: [row[INDEX[c]] for row in long] for c in CHANNELS}
        print(f"long take: {n} frames x 52 channels ({n / fps:.1f} s; the model on "
              f"{len(data['long']['audio'])} real-speech files joined)")
        # Settings take turns, so that other load on the machine falls on all of them alike.
        runs = {setting: [] for setting in settings}
        result = {}
        for _ in range(args.repeat):
            for setting in settings:
                key = fresh_key(fps)
                wall, cpu, keys, fcurves = write_all(key, columns, tolerance_of(setting))
                runs[setting].append((wall, cpu))
                # (The F-curves go with the next fresh scene: measure them now.)
                err = max(abs(fcurves[c].evaluate(1 + i) - v) for c in CHANNELS for i, v in enumerate(columns[c]))
                result[setting] = keys, err, len(fcurves["jawOpen"].keyframe_points)
        for setting in settings:
            tolerance = tolerance_of(setting)
            keys, err, jaw_keys = result[setting]
            reduce_s = ""
            if tolerance is not None:
                began = time.process_time()
                for c in CHANNELS:
                    keyreduce.reduce_keys(columns[c], tolerance)
                reduce_s = f", reduce_keys alone {time.process_time() - began:.3f}"
            walls = sorted(w for w, _ in runs[setting])
            cpus = [c for _, c in runs[setting]]
            label = "every frame" if tolerance is None else f"tolerance {tolerance:.3g}"
            print(f"  {setting:>8} ({label}): {keys} keys = {keys / 52 / (n / fps):.2f} keys/s/channel, "
                  f"jawOpen {jaw_keys}; max |written - generated| {err:.4f}")
            print(f"           write CPU s: first {cpus[0]:.3f}, best {min(cpus):.3f}{reduce_s}; "
                  f"wall s: best {walls[0]:.3f}, median {walls[len(walls) // 2]:.3f}")
        print("real speech (the files docs/RESULTS.md scores), jawOpen jitter (mean |2nd difference|):")
        written_out = {}
        for setting in settings:
            tolerance = tolerance_of(setting)
            rows = []
            for item in data["files"]:
                key = fresh_key(fps)
                cols = {c: [row[INDEX[c]] for row in item["model"]] for c in CHANNELS}
                _, _, keys, fcurves = write_all(key, cols, tolerance)
                t = len(item["model"])
                written = [[fcurves[c].evaluate(1 + i) for c in CHANNELS] for i in range(t)]
                if setting == settings[-1]:
                    written_out[item["name"]] = written
                rows.append((item["name"], t, keys, jitter(cols["jawOpen"]), jitter([w[JAW] for w in written]),
                             jitter([r[JAW] for r in item["teacher"]]), len(fcurves["jawOpen"].keyframe_points)))
            mean = lambda k: sum(r[k] for r in rows) / len(rows)  # noqa: E731
            frames = sum(r[1] for r in rows)
            print(f"  {setting:>8}: generated {mean(3):.4f}  written {mean(4):.4f}  teacher {mean(5):.4f};"
                  f" {sum(r[2] for r in rows) / 52 / (frames / fps):.1f} keys/s/channel,"
                  f" jawOpen {sum(r[6] for r in rows) / (frames / fps):.1f} keys/s")
        if args.written:
            Path(args.written).write_text(json.dumps(written_out))
    finally:
        addon.unregister()


if __name__ == "__main__":
    main()
