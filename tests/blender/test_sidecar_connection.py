"""The add-on's sidecar connection in real headless Blender (issue 11): the sidecar it starts
logs to a private file that never holds the token, and a sidecar that is slow to answer is not
replaced by a second one."""

import json
import os
import socket
import stat

import pytest

from addon.blender.prefs import ConnectionSettings
from addon.blender.sidecar.data import Sidecar
from addon.core import client
from tests.blender.conftest import PROJECT_PYTHON, ROOT


def test_started_sidecar_logs_privately_without_the_token(tiny_checkpoint, monkeypatch, tmp_path):
    monkeypatch.delenv("MOUTHPIECE_URL", raising=False)
    monkeypatch.delenv("MOUTHPIECE_TOKEN", raising=False)
    monkeypatch.setenv("MOUTHPIECE_STATE_FILE", str(tmp_path / "none.json"))  # no running sidecar to find
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    sidecar = Sidecar()
    settings = ConnectionSettings(command=tuple(client.serve_command(str(PROJECT_PYTHON), tiny_checkpoint)),
                                  cwd=str(ROOT), startup_timeout=300)
    sidecar.connect(settings, start=True)
    local = sidecar.local
    try:
        token = local.ready_info["token"]
        log_path = local.log_path
        # In a folder of its own that only this user may enter, not at a guessable temp path.
        assert stat.S_IMODE(log_path.parent.stat().st_mode) == 0o700
        assert stat.S_IMODE(log_path.stat().st_mode) == 0o600
    finally:
        assert sidecar.stop()
    text = log_path.read_text()
    assert token not in text and client.TOKEN_SHOWN_AS in text


def test_a_sidecar_that_answers_too_slowly_is_not_replaced(monkeypatch, tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # accepts connections and never answers: a sidecar busy past the health timeout
    state = tmp_path / "sidecar.json"
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    state.write_text(json.dumps({"url": url, "token": "t" * 32, "pid": os.getpid()}))
    monkeypatch.delenv("MOUTHPIECE_URL", raising=False)
    monkeypatch.setenv("MOUTHPIECE_STATE_FILE", str(state))
    sidecar = Sidecar()
    settings = ConnectionSettings(command=("/nonexistent/python", "-m", "server", "serve"), cwd=str(ROOT),
                                  startup_timeout=300)
    try:
        with pytest.raises(client.SidecarTimedOut, match="did not answer in time"):
            sidecar.connect(settings, start=True)
        assert sidecar.local is None  # no second sidecar was started
        assert sidecar.health.state == "down"
    finally:
        listener.close()
