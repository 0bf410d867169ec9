"""The Blender half of scripts/render_styles: the demo head posed in each style, rendered.

    .venv-bpy45/bin/python scripts/render_styles_blender.py PLAN.json

PLAN.json: {"poses": [{"label": ..., "values": [52 ARKit values]}], "size": px, "out_dir": ...}.
The head and camera are the demo's (scripts/demo_blender.py), so the picture matches the demo's.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
spec = importlib.util.spec_from_file_location("demo_blender", HERE / "demo_blender.py")
demo = importlib.util.module_from_spec(spec)
spec.loader.exec_module(demo)  # registers nothing by itself; its functions do

import bpy  # noqa: E402

from addon.core import arkit  # noqa: E402


def main(plan_path: Path) -> None:
    plan = json.loads(plan_path.read_text())
    scene = demo.set_up_scene({"fps": 30})
    obj = demo.add_head(scene)
    demo.set_up_render(scene, obj, int(plan["size"]))
    blocks = obj.data.shape_keys.key_blocks
    out = Path(plan["out_dir"])
    out.mkdir(parents=True, exist_ok=True)
    for n, pose in enumerate(plan["poses"]):
        for name, value in zip(arkit.CHANNELS, pose["values"]):
            blocks[name].value = float(value)
        scene.render.filepath = str(out / f"pose_{n}.png")
        bpy.ops.render.render(write_still=True)
        print(f"[render_styles] {pose['label']} -> {scene.render.filepath}", flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
