"""The panel's state follows the preferences and fits the connection mode, and the take being
previewed is always the one Apply acts on."""

import json
import os
import socket
import subprocess
import sys

import bpy
import pytest

from tests.blender.conftest import ROOT
from tests.blender.helpers import values

# The add-on enabled the way Blender enables an add-on (so it has its preferences), then its
# preferences changed as an animator does in Edit > Preferences; nobody presses refresh.
_PREFERENCES = r"""
import json, os, sys
root, dead, live, token = sys.argv[1:5]
sys.path.insert(0, root)
import bpy, addon_utils
addon_utils.enable("addon", default_set=True)
from addon.blender.sidecar import operator as sidecar_operator
from addon.blender.sidecar.data import SIDECAR
prefs = bpy.context.preferences.addons["addon"].preferences
seen = {}
def settle(name):
    thread = sidecar_operator.checking()
    if thread is not None:
        thread.join()
    seen[name] = {"state": SIDECAR.health.state, "message": SIDECAR.health.message, "model": SIDECAR.health.model}
settle("registered")
prefs.python_path = sys.executable  # Start Locally with a Python: nothing runs yet
settle("start_mode")
prefs.url = dead
prefs.connection = "URL"
settle("url_down")
prefs.token = token
prefs.url = live  # two changes in a row: the state is the one of the last
settle("url_up")
os.environ["MOUTHPIECE_URL"] = dead
prefs.token = "another"
settle("environment_down")
addon_utils.disable("addon")
print("SEEN", json.dumps(seen))
"""


def _dead_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_preference_changes_refresh_the_panel_with_advice_for_the_mode(sidecar, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("MOUTHPIECE_URL", "MOUTHPIECE_TOKEN")}
    env.update(MOUTHPIECE_STATE_FILE=str(tmp_path / "none.json"), XDG_STATE_HOME=str(tmp_path),
               BLENDER_USER_RESOURCES=str(tmp_path / "user"))
    dead = _dead_url()
    run = subprocess.run([sys.executable, "-c", _PREFERENCES, str(ROOT), dead, sidecar["url"], sidecar["token"]],
                         capture_output=True, text=True, env=env, cwd=tmp_path)
    lines = [line for line in run.stdout.splitlines() if line.startswith("SEEN ")]
    assert lines, run.stdout[-3000:] + run.stderr[-3000:]
    seen = json.loads(lines[-1][5:])
    assert seen["registered"]["state"] == "unknown"  # background mode: no check at start
    start = seen["start_mode"]
    assert start["state"] == "down" and "Press Start" in start["message"]
    down = seen["url_down"]
    assert down["state"] == "down" and dead in down["message"]
    assert "Start" not in down["message"] and "Connect to URL" in down["message"]
    up = seen["url_up"]
    assert up["state"] == "connected" and up["model"], up
    env_down = seen["environment_down"]
    assert env_down["state"] == "down" and "(environment)" in env_down["message"]
    assert "unset MOUTHPIECE_URL" in env_down["message"] and "Press Start" not in env_down["message"]


def _shown(obj) -> int:
    """Which take the viewport shows: its index, or -1 for the original animation."""
    action = obj.data.shape_keys.animation_data.action
    takes = obj.mouthpiece.takes
    return next((i for i, take in enumerate(takes) if take.action == action), -1)


def _one_take(obj) -> int:
    """The shown take, the list's active row and the previewed index: one and the same."""
    settings = obj.mouthpiece
    assert _shown(obj) == settings.takes_index == settings.previewing, \
        (_shown(obj), settings.takes_index, settings.previewing)
    return settings.takes_index


def test_selected_take_is_the_previewed_one_and_apply_keeps_it(speech_scene, sidecar):
    scene, obj, strip = speech_scene
    key = obj.data.shape_keys
    key.key_blocks["browInnerUp"].keyframe_insert("value", frame=1)
    original = key.animation_data.action
    assert bpy.ops.mouthpiece.variations(count=4) == {"FINISHED"}
    settings = obj.mouthpiece
    names = [t.action.name for t in settings.takes]
    start, end = scene.frame_start, scene.frame_end
    assert _one_take(obj) == 0
    # Clicking a row in the list (the UI list sets the active index): that take is shown.
    settings.takes_index = 2
    assert _one_take(obj) == 2
    # Original (its button): no take row stays selected, and Apply Selected has nothing to apply.
    assert bpy.ops.mouthpiece.preview_take(index=-1) == {"FINISHED"}
    assert _one_take(obj) == -1 and key.animation_data.action == original
    with pytest.raises(RuntimeError, match="The original animation is shown: click a take"):
        bpy.ops.mouthpiece.apply_take(index=-1)
    assert len(settings.takes) == 4 and key.animation_data.action == original
    # The eye of Take 4, then deleting Take 1 above it: Take 4 stays on screen and selected.
    bpy.ops.mouthpiece.preview_take(index=3)
    bpy.ops.mouthpiece.delete_take(index=0)
    assert _one_take(obj) == 2 and settings.takes[2].action.name == names[3]
    # Deleting the take on screen goes back to the original.
    bpy.ops.mouthpiece.delete_take(index=2)
    assert _one_take(obj) == -1 and key.animation_data.action == original
    # Select Take 3's row (now the second); Apply Selected keeps exactly what was on screen.
    settings.takes_index = 1
    assert _one_take(obj) == 1 and settings.takes[1].action.name == names[2]
    on_screen = values(obj, "jawOpen", start, end)
    assert bpy.ops.mouthpiece.apply_take(index=-1) == {"FINISHED"}
    assert key.animation_data.action == original and len(settings.takes) == 0
    assert values(obj, "jawOpen", start, end) == pytest.approx(on_screen, abs=1e-6)
    assert settings.takes_index == settings.previewing == -1
