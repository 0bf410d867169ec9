"""GUI smoke test: the built extension in Blender 5.2's real GUI (Debian sid chroot, Xvfb, Mesa)
with a real sidecar. It opens the Mouthpiece tab in the 3D viewport's sidebar, clicks Generate
with xdotool, waits for the job, saves the .blend and reads the shape-key F-curves back in a
separate headless Blender.

Not part of the default suite (pyproject's norecursedirs): run it with scripts/gui_smoke, which
makes or reuses the chroot (scripts/gui_chroot) first. Needs root for the chroot.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import pytest

from addon.core import arkit
from tests.gui import harness
from tests.sidecar_process import start_sidecar

# Guards so a hung GUI fails the test instead of hanging it; not speed checks.
JOB_GUARD_S = 300.0
CLICK_GUARD_S = 30.0  # a click that missed the button starts nothing
SOUND_START_FRAME = 12


@pytest.fixture(scope="module")
def work():
    """A folder inside the chroot's /tmp; yields its path as Blender sees it."""
    host = Path(tempfile.mkdtemp(prefix="mouthpiece-gui-", dir=harness.chroot_root() / "tmp"))
    yield Path("/tmp") / host.name
    shutil.rmtree(host, ignore_errors=True)


@pytest.fixture(scope="module")
def sidecar(tiny_checkpoint, tmp_path_factory):
    server = start_sidecar(tiny_checkpoint, tmp_path_factory.mktemp("state"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def installed(work, tmp_path_factory):
    zip_path = harness.build_extension_zip(tmp_path_factory.mktemp("dist"))
    return harness.install_extension(zip_path, work)


def wait_for_job(gui: harness.GuiSession) -> dict:
    clicked = time.monotonic()
    deadline = clicked + JOB_GUARD_S
    seen_running = False
    while time.monotonic() < deadline:
        state = harness.shape_key_state(gui)
        seen_running |= state["running"]
        if state["action"] and not state["running"]:
            return state
        if seen_running and not state["running"]:
            raise AssertionError(f"the job ended without writing curves; Blender log:\n{gui._tail(gui.blender_log)}")
        if not seen_running and time.monotonic() > clicked + CLICK_GUARD_S:
            raise AssertionError("clicking Generate started no job")
        time.sleep(0.5)
    raise AssertionError(f"no curves within {JOB_GUARD_S:.0f} s of clicking Generate; Blender log:\n"
                         f"{gui._tail(gui.blender_log)}")


def test_click_generate_in_the_sidebar_writes_shape_key_curves(work, sidecar, installed, tmp_path):
    wav = work / "speech.wav"
    harness.speech_wav(harness.host_path(wav))
    blend = work / "after_generate.blend"
    with harness.GuiSession(work, sidecar_url=sidecar.url, sidecar_token=sidecar.token) as gui:
        scene = harness.setup_scene(gui, wav, SOUND_START_FRAME)
        assert scene["strip"][0] == SOUND_START_FRAME
        tab = gui.call("result = open_sidebar_tab('Mouthpiece')")
        assert tab["category"] == "Mouthpiece" and tab["shown"]
        assert harness.shape_key_state(gui)["action"] is None

        button = gui.call("result = find_operator_button('mouthpiece.generate')")
        gui.click(button["x"], button["y"])
        try:
            wait_for_job(gui)
        finally:
            gui.screenshot(tmp_path / "after_generate.png")
        health = gui.call("h = addon_module('blender.sidecar.data').SIDECAR.health\n"
                          "result = {'state': h.state, 'model': h.model, 'url': h.url}")
        gui.call(f"with override():\n    bpy.ops.wm.save_as_mainfile(filepath={str(blend)!r}, copy=True)")

    assert health == {"state": "connected", "model": sidecar.startup["model"], "url": sidecar.url}
    saved = gui.read_curves(blend)
    curves = saved["objects"][scene["object"]]["curves"]
    # The demo head has all 52 ARKit shape keys, so every channel gets a curve.
    assert sorted(curves) == sorted(arkit.CHANNELS)
    first, last = saved["frames"]
    for channel, curve in curves.items():
        assert curve["keys"] >= 2, channel
        assert first <= curve["first"] and curve["last"] <= last, (channel, curve)
        assert -1e-3 <= curve["min"] and curve["max"] <= 1 + 1e-3, (channel, curve)
    # Speech opens the jaw: a curve that stayed flat would mean the audio never reached the model.
    assert curves["jawOpen"]["max"] - curves["jawOpen"]["min"] > 0.05, curves["jawOpen"]


# The keys and handles of every shape-key F-curve of the active object, exactly.
ANIMATION_SNAPSHOT = """
compat = addon_module("blender.compat")
obj = bpy.context.active_object
key = obj.data.shape_keys
anim = key.animation_data
curves = {}
if anim is not None and anim.action is not None:
    for fc in compat.fcurves_of(anim.action, key):
        curves[fc.data_path] = [[list(kp.co), list(kp.handle_left), list(kp.handle_right), kp.handle_left_type,
                                 kp.handle_right_type, kp.interpolation, kp.type] for kp in fc.keyframe_points]
result = {"action": anim.action.name if anim and anim.action else None, "curves": curves}
"""

KEY_EXISTING_ANIMATION = """
obj = bpy.context.active_object
blocks = obj.data.shape_keys.key_blocks
for frame, jaw, smile in ((20, 0.1, 0.0), (45, 0.7, 0.4), (70, 0.2, 0.1)):
    blocks["jawOpen"].value, blocks["mouthSmileLeft"].value = jaw, smile
    blocks["jawOpen"].keyframe_insert("value", frame=frame)
    blocks["mouthSmileLeft"].keyframe_insert("value", frame=frame)
result = True
"""


def test_esc_cancels_generate_and_leaves_the_animation_as_it_was(work, sidecar, installed, tmp_path):
    wav = work / "speech.wav"
    harness.speech_wav(harness.host_path(wav))
    with harness.GuiSession(work, sidecar_url=sidecar.url, sidecar_token=sidecar.token) as gui:
        harness.setup_scene(gui, wav, SOUND_START_FRAME)
        gui.call("result = open_sidebar_tab('Mouthpiece')")
        gui.call(KEY_EXISTING_ANIMATION)
        before = gui.call(ANIMATION_SNAPSHOT)
        assert len(before["curves"]) == 2
        # Many sampler steps keep the tiny model's job running long enough to press Esc during it.
        gui.call("bpy.context.scene.mouthpiece.steps = 200")
        button = gui.call("result = find_operator_button('mouthpiece.generate')")
        gui.click(button["x"], button["y"])
        started = time.monotonic()
        while not harness.shape_key_state(gui)["running"]:
            assert time.monotonic() < started + CLICK_GUARD_S, "clicking Generate started no job"
            time.sleep(0.2)
        # Hold on to the job to read how it ended (the panel forgets it then).
        gui.call("import builtins\nbuiltins.mouthpiece_job = addon_module('blender.generate.data').ACTIVE.job\n"
                 "result = builtins.mouthpiece_job is not None")
        # Esc goes to the window the modal operator runs in, with the mouse over the viewport.
        gui.xdotool("mousemove", 400, 400, "sleep", "0.2", "key", "Escape")
        while harness.shape_key_state(gui)["running"]:
            assert time.monotonic() < started + JOB_GUARD_S, "Esc did not end the job"
            time.sleep(0.2)
        gui.screenshot(tmp_path / "after_esc.png")
        after = gui.call(ANIMATION_SNAPSHOT)
        ended = gui.call("import builtins\njob = builtins.mouthpiece_job\n"
                         "result = {'cancelled': job.cancelled, 'error': job.error}")
    assert ended == {"cancelled": True, "error": None}   # it was Esc, not a failure
    assert after == before                               # not one key or handle changed
