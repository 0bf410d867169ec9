"""Sidecar client: discovery, error reports for down/slow/refusing sidecars, the ready protocol
of a started sidecar, and request/result shapes. Real sockets and real processes on loopback."""

import base64
import json
import os
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from addon.core import arkit, client
from addon.core.client import (Endpoint, LocalSidecar, SidecarClient, SidecarError, SidecarTimedOut,
                               SidecarUnreachable)


def test_environment_overrides_preferences_and_state_file(tmp_path):
    state = tmp_path / "sidecar.json"
    state.write_text(json.dumps({"url": "http://127.0.0.1:9/", "token": "s", "pid": os.getpid()}))
    env = {"MOUTHPIECE_URL": "http://127.0.0.1:8765/", "MOUTHPIECE_TOKEN": "tok"}
    found = client.discover("http://127.0.0.1:1", "p", environ=env, state_paths=[state])
    assert found == Endpoint("http://127.0.0.1:8765", "tok", "environment")
    found = client.discover("http://127.0.0.1:1/", "p", environ={}, state_paths=[state])
    assert found == Endpoint("http://127.0.0.1:1", "p", "preferences")
    found = client.discover("", "", environ={}, state_paths=[state])
    assert found == Endpoint("http://127.0.0.1:9", "s", "state file")


def test_state_file_of_a_dead_sidecar_is_ignored(tmp_path):
    import subprocess
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    state = tmp_path / "sidecar.json"
    state.write_text(json.dumps({"url": "http://127.0.0.1:9", "token": "s", "pid": dead.pid}))
    assert client.discover("", "", environ={}, state_paths=[state, tmp_path / "missing.json"]) is None


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sidecar_down_is_a_clear_error():
    port = _free_port()  # nothing listens there any more
    c = SidecarClient(Endpoint(f"http://127.0.0.1:{port}", None, "preferences"))
    with pytest.raises(SidecarUnreachable, match=rf"Cannot reach the Mouthpiece sidecar at http://127.0.0.1:{port} \(preferences\).*Start"):
        c.health()


def test_sidecar_that_never_answers_times_out():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts the connection but never replies
    try:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        c = SidecarClient(Endpoint(url, None, "environment"), timeout=0.3)
        # Timed out, not refused: it may be busy, and the add-on must not start a second one.
        with pytest.raises(SidecarTimedOut, match="did not answer in time"):
            c.status("abc")
    finally:
        listener.close()


class _Replies(BaseHTTPRequestHandler):
    """Answers every request with the status and JSON body queued on the server."""

    def _reply(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.server.seen.append((self.command, self.path, self.headers.get("Authorization"),
                                 self.rfile.read(length) if length else b""))
        status, body = self.server.replies.pop(0)
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = _reply

    def log_message(self, *args):
        pass


@pytest.fixture
def http():
    server = HTTPServer(("127.0.0.1", 0), _Replies)
    server.replies, server.seen = [], []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _client(http, token="secret-token"):
    return SidecarClient(Endpoint(f"http://127.0.0.1:{http.server_port}", token, "started"))


def test_http_errors_carry_the_servers_reason(http):
    http.replies += [
        (401, {"error": "missing or wrong bearer token"}),
        (422, {"error": "keys[3].channel: 'jaw' is not an ARKit channel", "field": "keys[3].channel"}),
        (503, {"error": "the model is still loading"}),
        (200, b"not json"),
    ]
    c = _client(http)
    with pytest.raises(client.SidecarHTTPError, match="refused the token") as err:
        c.submit({})
    assert err.value.status == 401
    with pytest.raises(client.SidecarHTTPError, match=r"answered 422: keys\[3\].channel: 'jaw'") as err:
        c.submit({})
    assert err.value.field == "keys[3].channel"
    with pytest.raises(client.SidecarHTTPError, match="busy or not ready.*still loading"):
        c.health()
    with pytest.raises(SidecarError, match="not JSON"):
        c.health()
    assert http.seen[0][2] == "Bearer secret-token"


def test_wait_polls_until_done_and_reports_progress(http):
    http.replies += [
        (200, {"id": "j1", "status": "queued", "progress": 0.0, "stage": "queued", "error": None}),
        (200, {"id": "j1", "status": "running", "progress": 0.5, "stage": "sampling", "error": None}),
        (200, {"id": "j1", "status": "done", "progress": 1.0, "stage": "done", "error": None}),
        (200, {"id": "j1", "fps": 24.0, "channels": list(arkit.CHANNELS), "takes": []}),
        (200, {"id": "j1", "status": "done"}),  # DELETE frees the result on the sidecar
    ]
    seen = []
    result = _client(http).wait("j1", poll_interval=0.01, on_progress=lambda p, s: seen.append((p, s)))
    assert seen == [(0.0, "queued"), (0.5, "sampling"), (1.0, "done")]
    assert result["fps"] == 24.0
    assert [s[:2] for s in http.seen] == [("GET", "/v1/jobs/j1")] * 3 + [("GET", "/v1/jobs/j1/result"),
                                                                         ("DELETE", "/v1/jobs/j1")]


def test_failed_job_and_cancel(http):
    http.replies += [
        (200, {"id": "j", "status": "failed", "progress": 0.3, "stage": "sampling", "error": "audio too short"}),
        (200, {}),  # DELETE
    ]
    c = _client(http)
    with pytest.raises(client.JobFailed, match="could not generate: audio too short"):
        c.wait("j", poll_interval=0.01)
    with pytest.raises(client.JobCancelled):
        c.wait("j", cancel_requested=lambda: True)
    assert http.seen[-1][:2] == ("DELETE", "/v1/jobs/j")


def test_job_request_shape():
    body = client.build_job_request(
        b"RIFFxxxx", 24.0, samples=3, seed=7, keys=[(4, "jawOpen", 1.2)],
        existing={"jawOpen": [0.1, 0.2], "mouthClose": [0.0, 0.3]}, regenerate=(1, 1))
    assert base64.b64decode(body["audio"]) == b"RIFFxxxx"
    assert body["keys"] == [{"frame": 4, "channel": "jawOpen", "value": 1.0}]
    assert body["existing"]["channels"] == list(arkit.CHANNELS)
    row = body["existing"]["frames"][1]
    assert row[arkit.INDEX["jawOpen"]] == 0.2 and row[arkit.INDEX["mouthClose"]] == 0.3 and sum(row) == 0.5
    assert body["regenerate"] == {"start": 1, "end": 1} and body["samples"] == 3 and body["seed"] == 7
    assert body["lip_closure"] is None                      # the sidecar's default
    assert client.build_job_request(b"x", 24.0, lip_closure=0.25)["lip_closure"] == 0.25
    assert client.build_job_request(b"x", 24.0, lip_closure=3)["lip_closure"] == 1.0
    assert body["offset"] == 0.0 and "channels" not in body["regenerate"]
    some = client.build_job_request(b"x", 24.0, existing={"jawOpen": [0.1]}, regenerate=(0, 0),
                                    regenerate_channels=["jawOpen"], offset=-2)
    assert some["regenerate"] == {"start": 0, "end": 0, "channels": ["jawOpen"]} and some["offset"] == -2.0


def test_parse_result():
    rows = [[i / 100 for i in range(52)]] * 3
    fps, takes = client.parse_result({"fps": 25, "channels": list(arkit.CHANNELS),
                                      "takes": [{"seed": 5, "frames": rows}]})
    assert fps == 25.0 and takes[0].seed == 5 and takes[0].curves["jawOpen"] == [0.17] * 3
    with pytest.raises(SidecarError, match="malformed"):
        client.parse_result({"fps": 25})
    with pytest.raises(SidecarError, match="not a finite number"):
        client.parse_result({"fps": 25, "channels": list(arkit.CHANNELS),
                             "takes": [{"seed": 5, "frames": [rows[0][:17] + [float("nan")] + rows[0][18:]]}]})


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_a_reply_with_nan_is_refused(http, constant):
    http.replies.append((200, b'{"id": "j", "fps": 30, "channels": [], "takes": [{"seed": 1, "frames": [[' + constant
                         + b"]]}]}"))
    with pytest.raises(SidecarError, match="NaN or infinity"):
        _client(http).result("j")


_FAKE_READY = """
import json, sys, time
print("loading model...", flush=True)
print(json.dumps({"url": "http://127.0.0.1:4242", "token": "abc", "pid": 1}), flush=True)
time.sleep(60)
"""


def test_started_sidecar_reports_ready_and_stops(tmp_path):
    sidecar = LocalSidecar([sys.executable, "-c", _FAKE_READY], log_path=tmp_path / "log.txt")
    sidecar.start()
    try:
        found = sidecar.wait_ready(timeout=30)
        assert found == Endpoint("http://127.0.0.1:4242", "abc", "started")
        assert sidecar.running
    finally:
        sidecar.stop()
    assert not sidecar.running
    assert "loading model..." in (tmp_path / "log.txt").read_text()


def test_sidecar_that_dies_at_start_says_why(tmp_path):
    crash = "import sys; print('checkpoint not found: /nope', file=sys.stderr); sys.exit(3)"
    sidecar = LocalSidecar([sys.executable, "-c", crash], log_path=tmp_path / "log.txt")
    sidecar.start()
    with pytest.raises(SidecarError, match=r"exited \(code 3\) before it was ready.*checkpoint not found: /nope"):
        sidecar.wait_ready(timeout=30)


def test_missing_program_is_a_clear_error():
    with pytest.raises(SidecarError, match="Could not start the sidecar"):
        LocalSidecar(["/nonexistent/python", "-m", "server"]).start()
