"""Clear errors with the animation unchanged: no audio, no shape keys, broken mapping, the
sidecar down or refusing the token, a cancelled job. And the sidecar started on demand."""

import socket
import stat
import threading

import bpy
import pytest

from addon.blender.generate.job import Job, plan_job
from addon.blender.prefs import ConnectionSettings, connection_settings
from addon.blender.sidecar.data import Sidecar
from addon.core import client
from tests.blender.conftest import PROJECT_PYTHON, ROOT
from tests.blender.helpers import new_scene, snapshot


@pytest.fixture
def animated(speech_scene, sidecar):
    """The speech scene with a generated animation to protect."""
    scene, obj, strip = speech_scene
    bpy.ops.mouthpiece.generate()
    return scene, obj, strip


def test_no_audio_in_range(animated):
    scene, obj, strip = animated
    before = snapshot(obj)
    strip.mute = True
    with pytest.raises(RuntimeError, match="No sound plays between frames 5 and .*muted or at zero volume: voice"):
        bpy.ops.mouthpiece.generate()
    strip.mute = False
    scene.frame_start, scene.frame_end = 400, 500
    with pytest.raises(RuntimeError, match="No sound plays between frames 400 and 500"):
        bpy.ops.mouthpiece.generate()
    assert snapshot(obj) == before


def test_no_shape_keys():
    new_scene(24)
    bpy.ops.mesh.primitive_cube_add()
    with pytest.raises(RuntimeError, match="'Cube' has no shape keys to animate.*Demo Head"):
        bpy.ops.mouthpiece.generate()
    bpy.ops.object.select_all(action="DESELECT")
    bpy.context.view_layer.objects.active = None
    with pytest.raises(RuntimeError, match="no active object"):
        bpy.ops.mouthpiece.generate()


def test_rig_with_no_arkit_names_and_a_broken_mapping(speech_scene):
    scene, obj, strip = speech_scene
    for block in obj.data.shape_keys.key_blocks[1:]:
        block.name = "sculpt_" + str(block.as_pointer())[-6:]
    with pytest.raises(RuntimeError, match="None of .* shape keys matches an ARKit channel"):
        bpy.ops.mouthpiece.generate()
    bpy.ops.mouthpiece.auto_map()
    obj.mouthpiece.mapping["jawOpen"].shape_key = "does_not_exist"
    with pytest.raises(RuntimeError, match="jawOpen: shape key 'does_not_exist' does not exist"):
        bpy.ops.mouthpiece.generate()


def _dead_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_sidecar_down_or_wrong_token(animated, sidecar, monkeypatch):
    scene, obj, strip = animated
    sidecar_url = sidecar["url"]
    before = snapshot(obj)
    monkeypatch.setenv("MOUTHPIECE_URL", _dead_url())
    with pytest.raises(RuntimeError, match="Cannot reach the Mouthpiece sidecar at .*environment"):
        bpy.ops.mouthpiece.generate()
    assert snapshot(obj) == before
    monkeypatch.setenv("MOUTHPIECE_URL", sidecar_url)
    monkeypatch.setenv("MOUTHPIECE_TOKEN", "wrong-token-wrong-token")
    with pytest.raises(RuntimeError, match="refused the token"):
        bpy.ops.mouthpiece.variations(count=2)
    assert snapshot(obj) == before


def test_cancelled_job_changes_nothing(animated):
    scene, obj, strip = animated
    before = snapshot(obj)
    job = Job(plan_job("generate", bpy.context, samples=4), connection_settings())
    job.cancel()
    job.run()
    assert job.cancelled and job.takes is None and job.error is None
    # Cancelling a job the sidecar is already running (DELETE) ends it as cancelled too.
    job = Job(plan_job("generate", bpy.context, samples=16), connection_settings())
    started = threading.Event()
    job._progress = lambda fraction, stage: (started.set(), None)[1]
    thread = threading.Thread(target=job.run)
    thread.start()
    started.wait(120)
    job.cancel()
    thread.join(120)
    assert job.cancelled or job.takes is not None  # a tiny model may finish first; never an error
    assert job.error is None
    assert snapshot(obj) == before


def test_sidecar_started_on_demand_and_stopped(tiny_checkpoint, monkeypatch, tmp_path):
    monkeypatch.delenv("MOUTHPIECE_URL", raising=False)
    monkeypatch.delenv("MOUTHPIECE_TOKEN", raising=False)
    monkeypatch.setenv("MOUTHPIECE_STATE_FILE", str(tmp_path / "none.json"))  # no running sidecar to find
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    sidecar = Sidecar()
    settings = ConnectionSettings(command=tuple(client.serve_command(str(PROJECT_PYTHON), tiny_checkpoint)),
                                  cwd=str(ROOT), startup_timeout=300)
    api = sidecar.connect(settings, start=True)
    log_path, token = sidecar.local.log_path, sidecar.local.ready_info["token"]
    try:
        assert sidecar.started_here and sidecar.health.state == "connected"
        assert sidecar.health.model and sidecar.health.fps > 0 and sidecar.health.device
        assert api.health()["channels"][17] == "jawOpen"
        # Connecting again reuses the running process.
        pid = sidecar.local.process.pid
        sidecar.connect(settings, start=True)
        assert sidecar.local.process.pid == pid
    finally:
        process = sidecar.local.process
        assert sidecar.stop()
    assert process.poll() is not None and sidecar.health.state == "down"
    # Its log is private (0600, in a 0700 folder of its own, not a guessable temp path) and
    # never holds the token.
    assert stat.S_IMODE(log_path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(log_path.stat().st_mode) == 0o600
    text = log_path.read_text()
    assert token not in text and client.TOKEN_SHOWN_AS in text


def test_sidecar_that_cannot_start_says_why(monkeypatch, tmp_path):
    monkeypatch.delenv("MOUTHPIECE_URL", raising=False)
    monkeypatch.setenv("MOUTHPIECE_STATE_FILE", str(tmp_path / "none.json"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    sidecar = Sidecar()
    settings = ConnectionSettings(
        command=tuple(client.serve_command(str(PROJECT_PYTHON), str(tmp_path / "no-such-model"))),
        cwd=str(ROOT), startup_timeout=300)
    with pytest.raises(client.SidecarError, match="could not start|exited"):
        sidecar.connect(settings, start=True)
    assert sidecar.health.state == "error"
    with pytest.raises(client.SidecarError, match="set the Mouthpiece Python"):
        Sidecar().connect(ConnectionSettings(command=()), start=True)
