"""The Performance panel in Blender 5.2's real GUI, on a rig Mouthpiece did not make (the
third-party rig: ARKit shapes renamed Live Link Face style). Clicks and keys are real X input:
the Performance panel is opened by its header, Emotion = sad (Ctrl+wheel over the menu) with
Intensity 0.6 and Articulation 1.5 (a click on the slider, the value typed) are set with their
checkboxes; Variations (2 takes); each take's style holds the set keys while an unset key differs;
Keep Style on take 2 fills the panel; Match Style over the preview range fills it from the
animation; Ctrl+Z gives the previous state back; the language and the dialogue are set in the
Generate panel; save and reopen keep all of it.

The rig is not part of the repository: give it as $MOUTHPIECE_THIRDPARTY_RIG (a .blend whose shape
keys follow ARKit under another naming); the test skips without it. Run with scripts/gui_smoke
(root, the chroot), e.g. MOUTHPIECE_THIRDPARTY_RIG=../shared/data/rigs/thirdparty_rig.blend.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from addon.core import performance
from tests.gui import harness
from tests.gui.screenshots import scroll_sidebar
from tests.gui.test_gui_smoke import (  # noqa: F401
    CLICK_GUARD_S,
    HOOK_JOBS,
    click_and_wait,
    installed,
    sidecar,
    work,
)

RIG = Path(os.environ.get("MOUTHPIECE_THIRDPARTY_RIG", ""))
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


# The view y of the sidebar's top edge: 0 at the top, minus the pixels scrolled down. A button at
# view y V shows at screen y = box.y + offset - V, so positions found once survive scrolling.
OFFSET = """
region = region_of(view3d()[1], "UI")
result = region.view2d.region_to_view(0, region.height)[1]
"""
FAILED_SHOT = Path("/tmp/mouthpiece-gui-performance-failed.png")


def offset(gui) -> float:
    return gui.call(OFFSET)


def fail(gui, message: str):
    """Fail with a screenshot of what is on screen (to FAILED_SHOT)."""
    try:
        gui.screenshot(FAILED_SHOT)
        message += f"\n(screen: {FAILED_SHOT})"
    except Exception as exc:  # noqa: BLE001 - the message matters more than the shot
        message += f"\n(no screenshot: {exc})"
    raise AssertionError(message)


def wheel(gui, clicks: int) -> bool:
    """Mouse wheel over the sidebar (positive: down); whether the sidebar moved. Low down first, then
    high up: a scrollable list under the mouse takes the wheel for itself."""
    box = gui.call("result = sidebar()")
    before = offset(gui)
    for y in (box["y"] + box["height"] - 40, box["y"] + 40):
        gui.xdotool("mousemove", box["x"] + box["width"] // 2, y, "click", "--repeat", abs(clicks), "--delay", "20",
                    5 if clicks > 0 else 4)
        gui.call("result = wait(0.3)")
        if abs(offset(gui) - before) > 0.5:
            return True
    return False


def scroll_to_top(gui) -> None:
    for _ in range(12):
        if not wheel(gui, -25):
            return
    fail(gui, "the sidebar never reached its top")


def scroll_page(gui) -> bool:
    """Down by most of the sidebar's height (the rest overlaps the last scan); False at the bottom."""
    height = gui.call("result = sidebar()")["height"]
    start = offset(gui)
    while start - offset(gui) < 0.7 * height:
        if not wheel(gui, 4):
            return start - offset(gui) > 0.5
    return True


_seen: dict[str, dict] = {}  # copied text -> {"x", "view_y", "keys"}: where each button was last found


def _remember(gui, found: dict, keys: str) -> None:
    box, now = gui.call("result = sidebar()"), offset(gui)
    for text, buttons in found.items():
        _seen[text] = {"x": buttons[0]["x"], "view_y": now - (buttons[0]["y"] - box["y"]), "keys": keys}


def _from_memory(gui, path: str, keys: str, exclude: tuple) -> list[dict]:
    """The remembered buttons for ``path`` that still copy it where they should be now."""
    box, now = gui.call("result = sidebar()"), offset(gui)
    wanted = [(text, spot) for text, spot in _seen.items()
              if text.startswith(path) and spot["keys"] == keys and not any(e in text for e in exclude)]
    points = [(spot["x"], int(box["y"] + now - spot["view_y"])) for _, spot in wanted]
    inside = [(t, p) for (t, _), p in zip(wanted, points) if box["y"] + 8 < p[1] < box["y"] + box["height"] - 8]
    if not inside:
        return []
    copied = harness.probe(gui, [p for _, p in inside], keys)
    return [{"x": p[0], "y": p[1]} for (text, p), got in zip(inside, copied) if got == text]


def find(gui, path: str, fraction: float = 0.6, keys: str = "ctrl+shift+c", exclude: tuple = (),
         fractions: tuple = (), count: int = 1, fresh: bool = False) -> list[dict]:
    """The buttons that copy ``path`` (a prefix) in the sidebar: where they were last seen if they
    still copy it there; else from the sidebar's top, one scan of a column per page down."""
    if not fresh:
        hits = _from_memory(gui, path, keys, exclude)
        if len(hits) >= count:
            return hits
    seen: set[str] = set()
    for column in (fraction, *fractions):
        scroll_to_top(gui)
        while True:
            box = gui.call("result = sidebar()")
            found = harness.scan_sidebar(gui, column, keys)
            _remember(gui, found, keys)
            seen |= set(found)
            hits = [b for text, buttons in found.items() if text.startswith(path) and
                    not any(e in text for e in exclude) for b in buttons]
            whole = [b for b in hits if b["bottom"] < box["y"] + box["height"] - 6]  # not cut by the bottom edge
            if len(whole) >= count:
                return whole
            if not scroll_page(gui):
                if len(hits) >= count:
                    return hits
                break
    fail(gui, f"nothing (or fewer than {count}) in the sidebar copies {path!r} (columns at "
              f"{[fraction, *fractions]} of its width, every page from the top); copied: {sorted(seen)}")


def along_row(gui, y: int, keys: str, start: int = 4, end: int | None = None, step: int = 3) -> dict[str, int]:
    """What a row copies across the sidebar: {copied text: the middle x of its run}."""
    box = gui.call("result = sidebar()")
    xs = list(range(box["x"] + start, box["x"] + (end or box["width"] - 30), step))
    runs: dict[str, list[int]] = {}
    for x, text in zip(xs, harness.probe(gui, [(x, y) for x in xs], keys)):
        if text:
            runs.setdefault(text, []).append(x)
    return {text: (xs_[0] + xs_[-1]) // 2 for text, xs_ in runs.items()}


def click_checkbox(gui, key: str) -> None:
    """The "set" checkbox at the left of a Performance row: hover along the row for its path."""
    row = find(gui, f"mouthpiece.performance.{key}")[0]
    wanted = f"mouthpiece.performance.use_{key}"
    x = along_row(gui, row["y"], "ctrl+shift+c", end=100).get(wanted)
    if x is None:
        fail(gui, f"no checkbox copies {wanted!r} left of the {key} slider (y {row['y']})")
    before = panel_state(gui)[f"use_{key}"]
    gui.click(x, row["y"])
    deadline = time.monotonic() + CLICK_GUARD_S
    while panel_state(gui)[f"use_{key}"] == before:
        if time.monotonic() > deadline:
            fail(gui, f"clicking the {key} checkbox did not toggle it")
        time.sleep(0.2)


def type_into_slider(gui, key: str, value: str) -> None:
    """A click on a slider (no drag) edits its value as text: select all, type, Return."""
    row = find(gui, f"mouthpiece.performance.{key}")[0]
    gui.xdotool("mousemove", row["x"], row["y"], "sleep", "0.2", "click", "1", "sleep", "0.3",
                "key", "ctrl+a", "type", "--delay", "60", value)
    gui.xdotool("key", "Return", "sleep", "0.3", "mousemove", 5, 895)


def choose_emotion(gui, emotion: str) -> None:
    """Ctrl+wheel over the Emotion menu steps through its items (down, then back up)."""
    row = find(gui, "mouthpiece.performance.emotion")[0]
    for step in range(2 * len(performance.EMOTIONS)):
        if panel_state(gui)["emotion"] == emotion:
            return
        wheel_button = 5 if step < len(performance.EMOTIONS) else 4
        gui.xdotool("mousemove", row["x"], row["y"], "sleep", "0.1", "keydown", "ctrl", "click", wheel_button,
                    "keyup", "ctrl", "sleep", "0.2")
    fail(gui, f"Ctrl+wheel over the Emotion menu never reached {emotion!r}: {panel_state(gui)['emotion']}")


def click_op(gui, idname: str, fraction: float = 0.5, **kwargs) -> dict:
    button = find(gui, f"bpy.ops.{idname}(", fraction=fraction, keys="ctrl+c", **kwargs)[0]
    gui.click(button["x"], button["y"])
    return button


def wait_until(gui, condition, what: str):
    deadline = time.monotonic() + CLICK_GUARD_S
    while True:
        state = panel_state(gui)
        if condition(state):
            return state
        if time.monotonic() > deadline:
            fail(gui, f"{what}; the panel: {state}\nBlender log:\n{gui._tail(gui.blender_log)}")
        time.sleep(0.3)


def is_set(state) -> list[str]:
    return [k for k in performance.KEYS if state[f"use_{k}"]]


@pytest.mark.skipif(not RIG.is_file(), reason="set MOUTHPIECE_THIRDPARTY_RIG to a third-party ARKit rig .blend")
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

        # Performance: opened by its header (just above the Takes panel's, at the bottom); nothing set.
        scroll_sidebar(gui, 30)
        harness.open_performance_panel(gui)
        gui.call("result = wait(0.5)")
        assert is_set(panel_state(gui)) == []
        find(gui, "mouthpiece.performance.articulation", fresh=True)  # every row of that scan remembered
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
            if time.monotonic() > started + 300:
                fail(gui, "Variations: no job ended")
            time.sleep(0.3)
        assert ended == {"error": None, "cancelled": False}, ended
        takes = gui.call(TAKES)
        assert len(takes) == 2, takes
        for take in takes:
            style = take["style"]
            assert style is not None, f"{take['name']} has no style (the tiny model has a style input)"
            assert style["emotion"] == "sad", take
            assert style["intensity"] == pytest.approx(0.6, abs=1e-4), take
            assert style["articulation"] == pytest.approx(1.5, abs=1e-4), take
            assert take["label"].startswith("sad 0.6"), take  # what the Takes row shows
        # Over a range (an edit), the unset smile and asymmetry continue the kept animation
        # (server/engine.py EDIT_INFERRED_KEYS): the same in both takes. The event rates are
        # still drawn per take.
        assert takes[0]["style"]["smile"] == takes[1]["style"]["smile"], takes
        assert takes[0]["style"]["blink_rate"] != takes[1]["style"]["blink_rate"], takes

        # Keep Style on take 2: a click on its row selects (previews) it, then the Keep Style icon
        # beside Apply (found by hovering along Apply's row).
        rows = find(gui, "bpy.ops.mouthpiece.delete_take(", fraction=0.9, fractions=(0.86, 0.94, 0.82),
                    keys="ctrl+c", count=2, fresh=True)
        assert len(rows) == 2, rows
        gui.screenshot(tmp_path / "takes_with_styles.png")
        box = gui.call("result = sidebar()")
        for dx in (90, 70, 110):
            gui.click(box["x"] + dx, rows[1]["y"])
            deadline = time.monotonic() + 5
            while gui.call("result = bpy.context.active_object.mouthpiece.takes_index") != 1 and \
                    time.monotonic() < deadline:
                time.sleep(0.2)
            if gui.call("result = bpy.context.active_object.mouthpiece.takes_index") == 1:
                break
        else:
            fail(gui, "clicking take 2's row did not select it")
        apply = find(gui, "bpy.ops.mouthpiece.apply_take(", fraction=0.3, keys="ctrl+c", fresh=True)[0]
        across = along_row(gui, apply["y"], "ctrl+c")
        keep_x = next((x for text, x in across.items() if text.startswith("bpy.ops.mouthpiece.keep_style(")), None)
        if keep_x is None:
            fail(gui, f"no Keep Style button on Apply's row: {across}")
        gui.click(keep_x, apply["y"])
        kept = wait_until(gui, lambda s: is_set(s) == list(performance.KEYS),
                          "Keep Style on take 2 did not set every key")
        for key in performance.KEYS:
            expected = takes[1]["style"][key]
            assert kept[key] == (expected if key == "emotion" else pytest.approx(expected, abs=1e-4)), key

        # Match Style over the preview range (the Performance panel's button, not the take's), then Ctrl+Z.
        click_op(gui, "mouthpiece.match_style", fraction=0.25, exclude=("TAKE",), fresh=True)
        matched = wait_until(gui, lambda s: s != kept, "Match Style over the preview range changed nothing")
        assert is_set(matched) == list(performance.KEYS)
        for key, (low, high) in performance.RANGES.items():
            assert low <= matched[key] <= high, (key, matched[key])
        gui.screenshot(tmp_path / "after_match.png")
        gui.xdotool("mousemove", 400, 400, "sleep", "0.2", "key", "ctrl+z")
        wait_until(gui, lambda s: s == kept, "Ctrl+Z did not give back the panel as Keep Style left it")

        # The language and the dialogue, in the Generate panel (property split: the value at the right).
        dialogue = find(gui, "mouthpiece.dialogue", fraction=0.75, fresh=True)[0]
        gui.xdotool("mousemove", dialogue["x"], dialogue["y"], "sleep", "0.2", "click", "1", "sleep", "0.3",
                    "type", "--delay", "40", "we watched it roll away")
        gui.xdotool("key", "Return", "sleep", "0.3", "mousemove", 5, 895)
        language = find(gui, "mouthpiece.language", fraction=0.75)[0]
        gui.xdotool("mousemove", language["x"], language["y"], "sleep", "0.1", "keydown", "ctrl", "click", 5,
                    "keyup", "ctrl", "sleep", "0.3")
        final = wait_until(gui, lambda s: s["dialogue"] == "we watched it roll away" and s["language"] != "auto",
                           "the dialogue typed and the language chosen did not arrive")
        assert {k: final[k] for k in kept if k not in ("dialogue", "language")} == \
            {k: v for k, v in kept.items() if k not in ("dialogue", "language")}

        gui.call(f"with override():\n    bpy.ops.wm.save_as_mainfile(filepath={str(blend)!r})")
        gui.call(f"with override(None):\n    bpy.ops.wm.open_mainfile(filepath={str(blend)!r})\nresult = wait(1.0)")
        reopened = panel_state(gui)
    assert reopened == final, {k: (final[k], reopened.get(k)) for k in final if final[k] != reopened.get(k)}
