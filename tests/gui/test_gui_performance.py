"""The Performance panel in Blender 5.2's real GUI, on a rig Mouthpiece did not make (the
third-party rig: ARKit shapes renamed Live Link Face style). Clicks and keys are real X input:
the Performance panel is opened by its header, Emotion = sad (Ctrl+wheel over the menu) with
Intensity 0.6 and Articulation 1.5 (a click on the slider, the value typed) are set with their
checkboxes; Variations (2 takes); each take's style holds the set keys while an unset key differs;
Keep Style on take 2 fills the panel; Match Style over the preview range fills it from the
animation; Ctrl+Z gives the previous state back; the language and the dialogue are set in the
Generate panel; save and reopen keep all of it.

The rig is not part of the repository: the test skips without it ($MOUTHPIECE_THIRDPARTY_RIG,
default ../shared/data/rigs/thirdparty_rig.blend). Run with scripts/gui_smoke (root, the chroot).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

from addon.core import performance
from tests.gui import harness
from tests.gui.screenshots import scroll_sidebar
from tests.gui.test_gui_smoke import HOOK_JOBS, CLICK_GUARD_S, click_and_wait, installed, sidecar, work  # noqa: F401

RIG = Path(os.environ.get("MOUTHPIECE_THIRDPARTY_RIG") or
           harness.REPO.parent / "shared" / "data" / "rigs" / "thirdparty_rig.blend")
RANGE = (40, 80)

APPEND_RIG = """
with override():
    if bpy.context.object is not None and bpy.context.object.mode != "OBJECT":
        bpy.ops.object.mode_set(mode="OBJECT")
    bpy.ops.object.select_all(action="SELECT")
    bpy.ops.object.delete()
with bpy.data.libraries.load(RIG, link=False) as (source, target):
    target.objects = list(source.objects)
scene = bpy.context.scene
for obj in target.objects:
    scene.collection.objects.link(obj)
face = next(o for o in target.objects if o.type == "MESH" and o.data.shape_keys)
for obj in scene.objects:
    obj.select_set(obj is face)
bpy.context.view_layer.objects.active = face
editor = scene.sequence_editor or scene.sequence_editor_create()
strips = editor.strips if hasattr(editor, "strips") else editor.sequences
strip = strips.new_sound("speech", WAV, channel=1, frame_start=12)
scene.frame_start, scene.frame_end = 1, strip.frame_final_end + 6
scene.frame_set(1)
with override():
    bpy.ops.view3d.view_axis(type="FRONT")
    bpy.ops.view3d.view_selected()
redraw_all()
result = {"object": face.name, "keys": [k.name for k in face.data.shape_keys.key_blocks]}
"""

PANEL_STATE = """
s = bpy.context.scene.mouthpiece
p = s.performance
result = {k: getattr(p, k) for k in p.bl_rna.properties.keys() if k != "rna_type"}
result.update(language=s.language, dialogue=s.dialogue)
"""

TAKES = """
perf = addon_module("core.performance")
style_of = addon_module("blender.performance.operator").take_style
settings = bpy.context.active_object.mouthpiece
result = [{"name": t.name, "style": style_of(t), "label": perf.format_style(style_of(t))} for t in settings.takes]
"""


def panel_state(gui) -> dict:
    return gui.call(PANEL_STATE)


def find(gui, path: str, fraction: float = 0.6, keys: str = "ctrl+shift+c", scrolls=(0, 30, -30)) -> list[dict]:
    """The buttons that copy ``path`` in the sidebar, scrolling it if they are not in view."""
    for scroll in scrolls:
        if scroll:
            scroll_sidebar(gui, scroll)
            gui.call("result = wait(0.3)")
        found = harness.scan_sidebar(gui, fraction, keys)
        hits = [b for text, buttons in found.items() if text.startswith(path) for b in buttons]
        if hits:
            return hits
    raise AssertionError(f"nothing in the sidebar copies {path!r} (at {fraction:.2f} of its width)")


def click_checkbox(gui, key: str) -> None:
    """The "set" checkbox at the left of a Performance row: hover along the row for its path."""
    row = find(gui, f"mouthpiece.performance.{key}", scrolls=(0,))[0]
    box = gui.call("result = sidebar()")
    wanted = f"mouthpiece.performance.use_{key}"
    for x in range(box["x"] + 4, box["x"] + 90, 3):
        gui.call(f"bpy.context.window_manager.clipboard = ''\n"
                 f"xdotool('mousemove', {x}, {row['y']}, 'sleep', '0.03', 'key', 'ctrl+shift+c')\n"
                 "result = wait(0.05)")
        if gui.call("result = bpy.context.window_manager.clipboard") == wanted:
            before = panel_state(gui)[f"use_{key}"]
            gui.click(x, row["y"])
            deadline = time.monotonic() + CLICK_GUARD_S
            while panel_state(gui)[f"use_{key}"] == before:
                assert time.monotonic() < deadline, f"clicking the {key} checkbox did not toggle it"
                time.sleep(0.2)
            return
    raise AssertionError(f"no checkbox copies {wanted!r} left of the {key} slider (y {row['y']})")


def type_into_slider(gui, key: str, value: str) -> None:
    """A click on a slider (no drag) edits its value as text: select all, type, Return."""
    row = find(gui, f"mouthpiece.performance.{key}", scrolls=(0,))[0]
    gui.xdotool("mousemove", row["x"], row["y"], "sleep", "0.2", "click", "1", "sleep", "0.3",
                "key", "ctrl+a", "type", "--delay", "60", value)
    gui.xdotool("key", "Return", "sleep", "0.3", "mousemove", 5, 895)


def choose_emotion(gui, emotion: str) -> None:
    """Ctrl+wheel over the Emotion menu steps through its items (down, then back up)."""
    row = find(gui, "mouthpiece.performance.emotion", scrolls=(0,))[0]
    for step in range(2 * len(performance.EMOTIONS)):
        if panel_state(gui)["emotion"] == emotion:
            return
        wheel = 5 if step < len(performance.EMOTIONS) else 4
        gui.xdotool("mousemove", row["x"], row["y"], "sleep", "0.1", "keydown", "ctrl", "click", wheel,
                    "keyup", "ctrl", "sleep", "0.2")
    raise AssertionError(f"Ctrl+wheel over the Emotion menu never reached {emotion!r}: {panel_state(gui)['emotion']}")


def click_op(gui, idname: str, nth: int = 0, fraction: float = 0.5) -> dict:
    button = find(gui, f"bpy.ops.{idname}(", fraction=fraction, keys="ctrl+c")[nth]
    gui.click(button["x"], button["y"])
    return button


def wait_until(gui, condition, what: str):
    deadline = time.monotonic() + CLICK_GUARD_S
    while True:
        state = panel_state(gui)
        if condition(state):
            return state
        assert time.monotonic() < deadline, f"{what}; the panel: {state}\nBlender log:\n{gui._tail(gui.blender_log)}"
        time.sleep(0.3)


def is_set(state) -> list[str]:
    return [k for k in performance.KEYS if state[f"use_{k}"]]


@pytest.mark.skipif(not RIG.exists(), reason=f"the third-party rig is not here ({RIG})")
def test_performance_panel_on_a_third_party_rig(work, sidecar, installed, tmp_path):  # noqa: F811
    shutil.copy(RIG, harness.host_path(work / "rig.blend"))
    wav = work / "speech.wav"
    harness.speech_wav(harness.host_path(wav))
    blend = work / "performance.blend"
    with harness.GuiSession(work, sidecar_url=sidecar.url, sidecar_token=sidecar.token) as gui:
        rig = gui.call(f"RIG, WAV = {str(work / 'rig.blend')!r}, {str(wav)!r}\n" + APPEND_RIG)
        assert "JawOpen" in rig["keys"] and "jawOpen" not in rig["keys"], rig["keys"][:8]
        assert gui.call("result = open_sidebar_tab('Mouthpiece')")["category"] == "Mouthpiece"
        click_op(gui, "mouthpiece.auto_map")
        assert click_and_wait(gui, "mouthpiece.generate") == {"error": None, "cancelled": False}

        # Performance: opened by its header; nothing set at first.
        scroll_sidebar(gui, 30)
        harness.open_performance_panel(gui)
        scroll_sidebar(gui, 30)
        assert is_set(panel_state(gui)) == []
        click_checkbox(gui, "articulation")
        type_into_slider(gui, "articulation", "1.5")
        click_checkbox(gui, "emotion")
        choose_emotion(gui, "sad")
        click_checkbox(gui, "intensity")
        type_into_slider(gui, "intensity", "0.6")
        chosen = wait_until(gui, lambda s: s["articulation"] == pytest.approx(1.5) and s["intensity"] ==
                            pytest.approx(0.6), "typing into the sliders did not set Articulation 1.5, Intensity 0.6")
        assert is_set(chosen) == ["articulation", "emotion", "intensity"] and chosen["emotion"] == "sad"
        gui.screenshot(tmp_path / "performance_set.png")

        # Variations over the preview range, two takes: the set keys held, an unset key differs.
        gui.call(f"s = bpy.context.scene\ns.use_preview_range = True\n"
                 f"s.frame_preview_start, s.frame_preview_end = {RANGE[0]}, {RANGE[1]}\n"
                 "s.mouthpiece.takes = 2\ns.mouthpiece.seed = 3")
        count = gui.call(HOOK_JOBS)
        click_op(gui, "mouthpiece.variations")
        started = time.monotonic()
        while True:
            ended = gui.call("import builtins\njobs = builtins.mouthpiece_jobs\n"
                             f"job = jobs[{count}] if len(jobs) > {count} else None\n"
                             "running = addon_module('blender.generate.data').ACTIVE.running\n"
                             "result = None if job is None or running else {'error': job.error, 'cancelled': job.cancelled}")
            if ended is not None:
                break
            assert time.monotonic() < started + 300, "Variations: no job ended"
            time.sleep(0.3)
        assert ended == {"error": None, "cancelled": False}, ended
        scroll_sidebar(gui, 30)
        gui.screenshot(tmp_path / "takes_with_styles.png")
        takes = gui.call(TAKES)
        assert len(takes) == 2, takes
        for take in takes:
            style = take["style"]
            assert style is not None, f"{take['name']} has no style (the tiny model has a style input)"
            assert style["emotion"] == "sad", take
            assert style["intensity"] == pytest.approx(0.6, abs=1e-4), take
            assert style["articulation"] == pytest.approx(1.5, abs=1e-4), take
            assert take["label"].startswith("sad 0.6"), take  # what the Takes row shows
        assert takes[0]["style"]["smile"] != takes[1]["style"]["smile"], takes  # unset: drawn per take

        # Keep Style on take 2: a click on its row selects (previews) it, then the Keep Style button.
        rows = find(gui, "bpy.ops.mouthpiece.delete_take(", fraction=0.9, keys="ctrl+c", scrolls=(0, 30))
        assert len(rows) == 2, rows
        gui.click(gui.call("result = sidebar()")["x"] + 90, rows[1]["y"])
        deadline = time.monotonic() + CLICK_GUARD_S
        while gui.call("result = bpy.context.active_object.mouthpiece.takes_index") != 1:
            assert time.monotonic() < deadline, "clicking take 2's row did not select it"
            time.sleep(0.2)
        click_op(gui, "mouthpiece.keep_style", fraction=0.75)
        kept = wait_until(gui, lambda s: is_set(s) == list(performance.KEYS),
                          "Keep Style on take 2 did not set every key")
        for key in performance.KEYS:
            expected = takes[1]["style"][key]
            assert kept[key] == (expected if key == "emotion" else pytest.approx(expected, abs=1e-4)), key

        # Match Style over the preview range (the panel's button), then Ctrl+Z.
        click_op(gui, "mouthpiece.match_style(source='RANGE'", fraction=0.25)
        matched = wait_until(gui, lambda s: s != kept, "Match Style over the preview range changed nothing")
        assert is_set(matched) == list(performance.KEYS)
        for key, (low, high) in performance.RANGES.items():
            assert low <= matched[key] <= high, (key, matched[key])
        gui.screenshot(tmp_path / "after_match.png")
        gui.xdotool("mousemove", 400, 400, "sleep", "0.2", "key", "ctrl+z")
        wait_until(gui, lambda s: s == kept, "Ctrl+Z did not give back the panel as Keep Style left it")

        # The language and the dialogue, in the Generate panel.
        dialogue = find(gui, "mouthpiece.dialogue", scrolls=(0, -30, 30))[0]
        gui.xdotool("mousemove", dialogue["x"], dialogue["y"], "sleep", "0.2", "click", "1", "sleep", "0.3",
                    "type", "--delay", "40", "we watched it roll away")
        gui.xdotool("key", "Return", "sleep", "0.3", "mousemove", 5, 895)
        language = find(gui, "mouthpiece.language", scrolls=(0,))[0]
        gui.xdotool("mousemove", language["x"], language["y"], "sleep", "0.1", "keydown", "ctrl", "click", 5,
                    "keyup", "ctrl", "sleep", "0.3")
        final = wait_until(gui, lambda s: s["dialogue"] == "we watched it roll away" and s["language"] != "auto",
                           "the dialogue typed and the language chosen did not arrive")
        assert {k: final[k] for k in kept} == kept

        gui.call(f"with override():\n    bpy.ops.wm.save_as_mainfile(filepath={str(blend)!r})")
        gui.call(f"with override(None):\n    bpy.ops.wm.open_mainfile(filepath={str(blend)!r})\nresult = wait(1.0)")
        reopened = panel_state(gui)
    assert reopened == final, {k: (final[k], reopened.get(k)) for k in final if final[k] != reopened.get(k)}
