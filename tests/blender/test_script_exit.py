"""A pipeline script that registers the add-on and ends exits by itself (issue 10, item 6).

bpy 4.5 as a Python module hung for ever after such a script: Blender's exit runs only when the
interpreter frees the ``bpy`` module, a registered class kept it alive, and bpy's static
destructors then waited on its never-stopped audio thread. Each script runs in a fresh process of
this Blender's Python; the guard turns a hang into a failure (it is not a speed check).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from tests.blender.conftest import ROOT

EXIT_GUARD_S = 300.0


def run_script(body: str, env: dict | None = None) -> subprocess.CompletedProcess:
    script = f"import sys\nsys.path.insert(0, {str(ROOT)!r})\n" + textwrap.dedent(body)
    try:
        return subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True,
                              timeout=EXIT_GUARD_S, env=env)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the script did not exit within {EXIT_GUARD_S:.0f} s; its output: {exc.stdout!r}")


def test_a_script_that_registers_the_addon_and_ends_exits():
    done = run_script("""
        import bpy
        import addon
        addon.register()
        assert hasattr(bpy.types.Scene, "mouthpiece")
        print("registered", flush=True)
    """)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "registered" in done.stdout


def test_a_script_that_generates_and_ends_exits(sidecar, speech_wav):
    # The whole pipeline: register, build a scene, Generate against the real sidecar, save, end.
    env = dict(os.environ, MOUTHPIECE_URL=sidecar["url"], MOUTHPIECE_TOKEN=sidecar["token"])
    done = run_script(f"""
        import bpy
        import addon
        addon.register()
        from tests.blender.helpers import add_sound, demo_head, new_scene, strip_end
        scene = new_scene(24)
        strip = add_sound(scene, {str(speech_wav)!r}, 11)
        scene.frame_start, scene.frame_end = 5, int(strip_end(strip)) + 4
        obj = demo_head()
        assert bpy.ops.mouthpiece.generate() == {{"FINISHED"}}
        action = obj.data.shape_keys.animation_data.action
        print("generated", action.name, flush=True)
    """, env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "generated" in done.stdout


def test_a_script_that_unregisters_itself_still_exits():
    # The exit hook must not unregister a second time (that would raise at exit).
    done = run_script("""
        import addon
        addon.register()
        addon.unregister()
        print("unregistered", flush=True)
    """)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "unregistered" in done.stdout
    assert "unregister at exit failed" not in done.stdout + done.stderr
