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
