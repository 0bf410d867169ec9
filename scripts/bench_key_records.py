"""What the records of Generated keys (addon/blender/generated.py) cost a big write: 52 channels x
5,000 frames written with key reduction, with and without renewing each curve's record, and the
check for moved keys a job makes before it starts. CPU seconds; synthetic sine curves with a
little noise (the write's cost depends on the key count, not on where the curves came from).

    .venv-bpy45/bin/python scripts/bench_key_records.py
"""

import math
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bpy  # noqa: E402

import addon  # noqa: E402
from addon.blender import curves, generated  # noqa: E402
from addon.core import arkit  # noqa: E402

FRAMES, TOLERANCE = 5000, 0.02


def main():
    addon.register()
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.mouthpiece.add_demo_head()
    key = bpy.context.active_object.data.shape_keys
    rng = random.Random(0)
    values = {c: [0.5 + 0.4 * math.sin(i / (5 + k)) + rng.uniform(-0.01, 0.01) for i in range(FRAMES)]
              for k, c in enumerate(arkit.CHANNELS)}
    fcurves = {c: curves.ensure_fcurve(key, c) for c in arkit.CHANNELS}
    action = key.animation_data.action

    def write(with_record):
        started = time.process_time()
        for c in arkit.CHANNELS:
            record = generated.CurveWrite(action, key, c, fcurves[c], 0.5, FRAMES + 0.5) if with_record else None
            curves.write_range(fcurves[c], 1, values[c], TOLERANCE, True)
            if record is not None:
                record.commit()
        return time.process_time() - started

    plain = min(write(False) for _ in range(3))
    recorded = min(write(True) for _ in range(3))
    started = time.process_time()
    touched = sum(len(generated.touched(action, key, c, fcurves[c])) for c in arkit.CHANNELS)
    check = time.process_time() - started
    keys = sum(len(fc.keyframe_points) for fc in fcurves.values())
    print(f"Blender {bpy.app.version_string}: 52 x {FRAMES} frames, {keys} keys; write {plain:.3f} s, "
          f"write + records {recorded:.3f} s, moved-key check {check:.3f} s ({touched} touched); best of 3")
    addon.unregister()


main()
