"""Screenshots of the add-on in Blender 5.2's real GUI, as an animator sees it, for docs/images.

    python -m tests.gui.screenshots [--out docs/images] [--checkpoint MODEL] [--only NAME ...]

Run as root on a host with the chroot of scripts/gui_chroot (scripts/gui_screenshots does both).
The sidecar runs on the host with MODEL (default: the tiny test model); the demo head speaks an
espeak-ng sentence placed at frame 12. Each image is cropped to the part of the UI it shows.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from tests.gui import harness

SHOTS = ("overview", "graph_editor", "panel", "preferences", "rig_mapping", "progress", "takes", "performance", "sidecar_down")
JOB_GUARD_S = 300.0


RENAME_KEYS = """
obj = bpy.context.active_object
keys = obj.data.shape_keys.key_blocks
for old, new in (("jawOpen", "JawOpen"), ("mouthSmileLeft", "mouth_smile_L"),
                 ("mouthSmileRight", "mouth_smile_R"), ("mouthClose", "MouthClose")):
    keys[old].name = new
obj.active_shape_key_index = keys.find("cheekPuff")
with override(None):
    bpy.ops.object.shape_key_remove()
obj.shape_key_add(name="wrinkle_extra", from_mix=False)
"""
# The 3D viewport becomes a Graph Editor showing only the generated jawOpen curve (the rig renames
# it JawOpen), framed; GRAPH_BACK puts the viewport back.
GRAPH_JAW = """
compat = addon_module("blender.compat")
key = bpy.context.active_object.data.shape_keys
for fc in compat.fcurves_of(key.animation_data.action, key):
    fc.hide = fc.data_path != 'key_blocks["JawOpen"].value'
    fc.select = not fc.hide
window, area = view3d()
area.type = "GRAPH_EDITOR"
area.ui_type = "FCURVES"
space = area.spaces.active
space.dopesheet.show_only_selected = False
region = region_of(area, "WINDOW")
with bpy.context.temp_override(window=main_window(), area=area, region=region):
    bpy.ops.graph.view_all()
result = wait(0.8)
"""
GRAPH_BOX = """
area = next(a for a in main_window().screen.areas if a.type == "GRAPH_EDITOR")
result = screen_box(main_window(), region_of(area, "WINDOW"))
"""
GRAPH_BACK = """
area = next(a for a in main_window().screen.areas if a.type == "GRAPH_EDITOR")
area.type = "VIEW_3D"
result = wait(0.3)
"""
SHOW_REPORT = """
settings = bpy.context.active_object.mouthpiece
settings.show_report = True
settings.mapping_index = [item.name for item in settings.mapping].index("jawOpen")
result = wait(0.5)
"""


def wait_until_idle(gui: harness.GuiSession) -> None:
    deadline = time.monotonic() + JOB_GUARD_S
    while harness.shape_key_state(gui)["running"]:
        if time.monotonic() > deadline:
            raise harness.GuiError("the job did not finish")
        time.sleep(0.5)


def click_button(gui: harness.GuiSession, idname: str, columns=(0.5, 0.9, 0.1)) -> None:
    button = gui.call(f"result = find_operator_button({idname!r}, {tuple(columns)!r})")
    gui.click(button["x"], button["y"])


def scroll_sidebar(gui: harness.GuiSession, clicks: int) -> None:
    """Mouse wheel over the sidebar: positive scrolls down (the Takes panel is last). Low down,
    where the panel content moves away from under the mouse: over a list the wheel scrolls the list."""
    box = gui.call("result = sidebar()")
    gui.xdotool("mousemove", box["x"] + box["width"] // 2, box["y"] + box["height"] - 40,
                "click", "--repeat", abs(clicks), "--delay", "20", 5 if clicks > 0 else 4)


def take(out: Path, wanted: set[str], checkpoint: Path | None) -> list[Path]:
    from tests.sidecar_process import start_sidecar
    from tests.tiny_model import tiny_checkpoint

    made = []
    host_work = Path(tempfile.mkdtemp(prefix="mouthpiece-shots-", dir=harness.chroot_root() / "tmp"))
    work = Path("/tmp") / host_work.name
    state = Path(tempfile.mkdtemp(prefix="mouthpiece-shots-state-"))
    sidecar = start_sidecar(checkpoint or tiny_checkpoint(), state)
    try:
        zip_path = harness.build_extension_zip(host_work / "dist")
        print("extension:", harness.install_extension(zip_path, work))
        harness.speech_wav(harness.host_path(work / "speech.wav"))
        with harness.GuiSession(work, sidecar_url=sidecar.url, sidecar_token=sidecar.token) as gui:
            def shot(name: str, box: dict | None, margin: int = 0) -> None:
                if name in wanted:
                    made.append(gui.screenshot(out / f"{name}.png", box, margin))
                    print("wrote", made[-1])

            harness.setup_scene(gui, work / "speech.wav")
            side = gui.call("result = open_sidebar_tab('Mouthpiece')")
            click_button(gui, "mouthpiece.sidecar_check", (0.92, 0.85))
            shot("panel", side)

            gui.call("""
import addon_utils, sys
prefs = bpy.context.preferences
prefs.active_section = "ADDONS"
bpy.context.window_manager.addon_search = "Mouthpiece"
module = next(m for m in sys.modules if m.endswith(".mouthpiece") and m.startswith("bl_ext."))
with override(None):
    bpy.ops.screen.userpref_show()
window = bpy.context.window_manager.windows[-1]
with bpy.context.temp_override(window=window, area=window.screen.areas[0]):
    bpy.ops.preferences.addon_expand(module=module)
result = wait(0.5)
""")
            screen_h = int(harness.DISPLAY_SIZE.split("x")[1])
            window = gui.call("w = bpy.context.window_manager.windows[-1]\n"
                              "result = {'x': w.x, 'y': w.y, 'width': w.width, 'height': w.height}")
            # Blender's window y counts from the screen's bottom; a window taller than the room
            # above it sticks out at the top, and only the part on screen is in the shot.
            top = screen_h - (window["y"] + window["height"])
            shot("preferences", {"x": window["x"], "y": max(0, top), "width": window["width"],
                                 "height": window["height"] + min(0, top)})
            gui.call("w = bpy.context.window_manager.windows[-1]\n"
                     "with bpy.context.temp_override(window=w):\n    bpy.ops.wm.window_close()")

            # A rig as studios have them: some keys renamed, one missing, one extra.
            gui.call(RENAME_KEYS)
            click_button(gui, "mouthpiece.auto_map")
            gui.call(SHOW_REPORT)
            shot("rig_mapping", side)

            # Many sampler steps keep the tiny model's job on screen long enough to see it.
            gui.call("bpy.context.scene.mouthpiece.steps = 200")
            click_button(gui, "mouthpiece.generate")
            time.sleep(1.5)
            shot("progress", side)
            wait_until_idle(gui)
            gui.call("bpy.context.scene.mouthpiece.steps = 0\nbpy.context.scene.frame_set(40)")
            # The viewport with the sidebar and the timeline: what the animator works in.
            shot("overview", {"x": 0, "y": 0, "width": side["x"] + side["width"] + 2, "height": screen_h})
            if "graph_editor" in wanted:
                gui.call(GRAPH_JAW)
                shot("graph_editor", gui.call(GRAPH_BOX))
                gui.call(GRAPH_BACK)

            gui.call("bpy.context.scene.mouthpiece.takes = 3")
            scroll_sidebar(gui, 30)
            click_button(gui, "mouthpiece.variations")
            time.sleep(1.0)
            wait_until_idle(gui)
            scroll_sidebar(gui, 30)  # the takes list is new at the bottom
            shot("takes", side)

            if "performance" in wanted:
                # The Performance panel opened by its header, a few keys set, above the takes'
                # styles (the tiny test model has a style input too).
                gui.call("p = bpy.context.scene.mouthpiece.performance\n"
                         "p.articulation, p.use_articulation = 1.5, True\n"
                         "p.emotion, p.use_emotion, p.intensity, p.use_intensity = 'sad', True, 0.6, True")
                harness.open_performance_panel(gui)
                scroll_sidebar(gui, 30)
                # The wheel leaves the mouse over the sidebar: its tooltip would cover the list.
                gui.xdotool("mousemove", 5, screen_h - 5)
                gui.call("result = wait(0.5)")
                shot("performance", side)

            scroll_sidebar(gui, -30)
            gui.call("import os\nos.environ['MOUTHPIECE_URL'] = 'http://127.0.0.1:9'")
            click_button(gui, "mouthpiece.sidecar_check", (0.92, 0.85))
            shot("sidecar_down", side)
    finally:
        sidecar.stop()
        shutil.rmtree(host_work, ignore_errors=True)
        shutil.rmtree(state, ignore_errors=True)
    for path in made:
        if path.name == "overview.png":  # most of the 1600x900 screen: smaller for the docs
            harness.in_chroot("convert", "-", "-resize", "1100x", "-colors", "256", "-strip", "png:-",
                              stdin=path.open("rb"), stdout=(path.with_suffix(".tmp")).open("wb"))
            path.with_suffix(".tmp").replace(path)
    return made


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=harness.REPO / "docs" / "images")
    parser.add_argument("--checkpoint", type=Path, help="the sidecar's model (default: the tiny test model)")
    parser.add_argument("--only", nargs="+", choices=SHOTS, help="only these screenshots")
    args = parser.parse_args(argv)
    made = take(args.out, set(args.only or SHOTS), args.checkpoint)
    for path in made:
        print(f"{path}: {path.stat().st_size // 1024} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
