"""SIGTERM and SIGINT: running work is cancelled, the state file removed, and the process exits 0."""

from __future__ import annotations

import json
import os
import signal
import time

from server.api.state import STATE_CHECK_INTERVAL_S
from tests.sidecar_process import b64, speech_clip, start_sidecar, wait_for


def test_sigint_when_idle_exits_cleanly(tiny_checkpoint, tmp_path):
    server = start_sidecar(tiny_checkpoint, tmp_path)
    assert len(server.token) >= 32  # generated: none was given
    assert json.loads(server.state_file.read_text())["pid"] == server.process.pid
    assert server.stop(signal.SIGINT) == 0
    assert not server.state_file.exists()
    assert server.process.stdout.read() == b""  # the startup line was the only one
    assert "Traceback" not in server.stderr()


def test_sigterm_cancels_running_work_and_exits_cleanly(tiny_checkpoint, tmp_path):
    server = start_sidecar(tiny_checkpoint, tmp_path)
    with server.client() as client:  # an open keep-alive connection must not hold the exit up
        minute = b64(speech_clip(60.0))
        running = client.post("/v1/jobs", json={"audio": minute, "samples": 16, "steps": 200}).json()
        queued = client.post("/v1/jobs", json={"audio": minute, "steps": 2}).json()
        status = wait_for(client, running["id"], statuses=("running",))
        assert status["progress"] < 0.5 and client.get(f"/v1/jobs/{queued['id']}").json()["status"] == "queued"
        assert server.stop(signal.SIGTERM) == 0
    assert not server.state_file.exists()
    assert "Traceback" not in server.stderr()


def test_state_file_of_a_newer_sidecar_is_left_alone(tiny_checkpoint, tmp_path):
    server = start_sidecar(tiny_checkpoint, tmp_path)
    # A live process (this one) stands for the newer sidecar: a file naming a dead one would be
    # taken back by the running sidecar (tests/test_api_hardening.py).
    newer = {**server.startup, "pid": os.getpid()}
    server.state_file.write_text(json.dumps(newer))
    time.sleep(2 * STATE_CHECK_INTERVAL_S)  # the running sidecar checks it and leaves it alone
    assert server.stop() == 0
    assert json.loads(server.state_file.read_text()) == newer
