"""Fixtures for the add-on tests in real headless Blender (bpy from PyPI; see
scripts/setup_blender_envs). They drive a REAL sidecar process of the project's .venv running a
tiny trained model, over loopback HTTP.

Run: .venv-bpy45/bin/python -m pytest tests/blender  (likewise .venv-bpy50, .venv-bpy5x)
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

bpy = pytest.importorskip("bpy", reason="these tests run inside Blender's Python (a .venv-bpy* environment)")

# The sidecar runs in the project's environment, not in Blender's Python.
PROJECT_PYTHON = Path(os.environ.get("MOUTHPIECE_PROJECT_PYTHON", ROOT / ".venv" / "bin" / "python"))
STARTUP_GUARD_S = 300.0  # a broken sidecar fails the run instead of hanging it; not a speed check


@pytest.fixture(scope="session", autouse=True)
def registered_addon():
    """The add-on registered the way a script does it: repo root on sys.path, addon.register()."""
    import addon

    addon.register()
    yield addon
    addon.unregister()


@pytest.fixture(scope="session")
def tiny_checkpoint():
    """A tiny trained model (trained on first use by the project's tests.tiny_model)."""
    if not PROJECT_PYTHON.exists():
        pytest.skip(f"the project environment {PROJECT_PYTHON} is missing (scripts/test sets it up)")
    out = subprocess.run([str(PROJECT_PYTHON), "-m", "tests.tiny_model"], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    return out.stdout.strip().splitlines()[-1]


def start_sidecar(checkpoint: str, state_dir: Path) -> tuple[subprocess.Popen, dict]:
    command = [str(PROJECT_PYTHON), "-m", "server", "serve", "--port", "0", "--checkpoint", checkpoint,
               "--threads", "1", "--state-file", str(state_dir / "sidecar.json")]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    with selectors.DefaultSelector() as sel:
        sel.register(process.stdout, selectors.EVENT_READ)
        ready = sel.select(STARTUP_GUARD_S)
    line = process.stdout.readline().decode() if ready else ""
    info = json.loads(line) if line.startswith("{") else {}
    if "url" not in info:
        process.kill()
        process.wait()
        raise RuntimeError(f"the sidecar did not start: {line!r}")
    return process, info


@pytest.fixture(scope="session")
def sidecar(tiny_checkpoint, tmp_path_factory):
    """A real sidecar process; MOUTHPIECE_URL/TOKEN point the add-on at it."""
    process, info = start_sidecar(tiny_checkpoint, tmp_path_factory.mktemp("sidecar"))
    old = {k: os.environ.get(k) for k in ("MOUTHPIECE_URL", "MOUTHPIECE_TOKEN")}
    os.environ["MOUTHPIECE_URL"], os.environ["MOUTHPIECE_TOKEN"] = info["url"], info["token"]
    yield info
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    process.terminate()
    process.wait(60)


@pytest.fixture
def speech_scene(speech_wav):
    """A fresh scene at 24 fps: the demo head, and the sentence as a sound strip at frame 11,
    frame range 5 .. strip end + 4 (so audio time 0 is frame 5, not the strip's start)."""
    from tests.blender.helpers import add_sound, demo_head, new_scene, strip_end

    scene = new_scene(24)
    strip = add_sound(scene, speech_wav, 11)
    scene.frame_start, scene.frame_end = 5, int(strip_end(strip)) + 4
    obj = demo_head()
    return scene, obj, strip
