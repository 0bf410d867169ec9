"""The add-on's sidecar connection in real headless Blender (issue 11): a sidecar that is slow to
answer is busy, not dead, and is not replaced by a second one. (The private log of the sidecar it
starts is checked in test_errors.py, where it starts one.)"""

import json
import os
import socket

import pytest

from addon.blender.prefs import ConnectionSettings
from addon.blender.sidecar.data import Sidecar
from addon.core import client
from tests.blender.conftest import ROOT


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
