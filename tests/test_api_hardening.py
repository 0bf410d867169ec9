"""The sidecar attacked from loopback, as a hostile local user or a web page in the animator's
browser would (issue 11), each attack through a real `python -m server serve` process."""

from __future__ import annotations

import ctypes
import io
import json
import os
import shutil
import signal
import socket
import stat
import sys
import threading
import time

import httpx
import numpy as np
import pytest
import soundfile as sf

from addon.core import arkit
from addon.core.client import (TOKEN_SHOWN_AS, Endpoint, LocalSidecar, SidecarClient, SidecarError,
                               private_log_path, serve_command)
from server import limits
from server.api.state import STATE_CHECK_INTERVAL_S
from tests.sidecar_process import (REPO, STARTUP_GUARD_S, b64, client, encode_audio, memory_mib,  # noqa: F401
                                   one_second, reset_peak_memory, sidecar_fixture, speech_clip, start_sidecar,
                                   wait_for)

sidecar = sidecar_fixture()
# Never a speed check: how long a test waits for the server to do something before failing.
GUARD_S = 60.0


def _host_port(sidecar) -> tuple[str, int]:
    host, port = sidecar.url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


# --- 1. the token in a log ------------------------------------------------------------------


def test_started_sidecars_log_is_private_and_never_holds_the_token(tiny_checkpoint, tmp_path):
    log_path = private_log_path()
    assert stat.S_IMODE(log_path.parent.stat().st_mode) == 0o700
    command = serve_command(sys.executable, str(tiny_checkpoint)) + ["--state-file", str(tmp_path / "s.json")]
    local = LocalSidecar(command, cwd=str(REPO), log_path=log_path)
    local.start()
    try:
        endpoint = local.wait_ready(STARTUP_GUARD_S)
        token = endpoint.token
        assert token and len(token) >= 32
        assert SidecarClient(endpoint).health()["status"] == "ok"
    finally:
        local.stop()
    text = log_path.read_text()
    assert token not in text
    startup = next(json.loads(line) for line in text.splitlines() if line.startswith('{"url"'))
    assert startup["token"] == TOKEN_SHOWN_AS and startup["url"] == endpoint.url
    assert stat.S_IMODE(log_path.stat().st_mode) == 0o600
    shutil.rmtree(log_path.parent)


@pytest.mark.parametrize("planted", ["symlink", "file"])
def test_a_file_or_link_planted_at_the_log_path_is_never_written_through(tmp_path, planted):
    victim = tmp_path / "victim.txt"
    victim.write_text("mine\n")
    log_path = tmp_path / "sidecar.log"
    if planted == "symlink":
        log_path.symlink_to(victim)
    else:
        log_path.write_text("planted\n")
        os.chmod(log_path, 0o644)
    local = LocalSidecar([sys.executable, "-c", "print('{\"url\": \"http://127.0.0.1:1\", \"token\": \"t\"}')"],
                         log_path=log_path)
    with pytest.raises(SidecarError, match="exists already"):
        local.start()
    assert local.process is None  # nothing started whose output could go there
    assert victim.read_text() == "mine\n"


# --- 2. DNS rebinding and web pages -------------------------------------------------------------

ROUTES = [("GET", "/v1/health"), ("GET", "/openapi.json"), ("POST", "/v1/jobs"), ("GET", "/v1/jobs/abc"),
          ("GET", "/v1/jobs/abc/result"), ("DELETE", "/v1/jobs/abc"), ("GET", "/no/such/path")]


@pytest.mark.parametrize("method,path", ROUTES)
def test_foreign_host_or_a_browser_origin_is_refused_on_every_route(sidecar, method, path):
    host, port = _host_port(sidecar)
    foreign = [{"Host": "evil.example"}, {"Host": f"attacker.com:{port}"}, {"Host": f"127.0.0.1:{port + 1}"},
               {"Host": f"localhost.attacker.com:{port}"}, {"Host": f"[::2]:{port}"}]
    from_pages = [{"Origin": "http://evil.example"}, {"Origin": f"http://127.0.0.1:{port}"}, {"Origin": "null"},
                  {"Sec-Fetch-Site": "cross-site"}]
    with httpx.Client(base_url=sidecar.url, timeout=60.0) as c:
        for headers in foreign + from_pages:
            response = c.request(method, path, headers={**sidecar.auth, **headers}, json={})
            assert response.status_code == 403, (headers, response.text)
            answer = response.json()
            assert answer["field"] in ("Host", "Origin", "Sec-Fetch-Site")
            assert answer["error"].startswith(answer["field"])
            assert answer["field"] == ("Host" if "Host" in headers else next(iter(headers)))
            assert not any(h.lower().startswith("access-control-") for h in response.headers)
        for name in ("127.0.0.1", "localhost", "[::1]"):
            response = c.request(method, path, headers={**sidecar.auth, "Host": f"{name}:{port}"})
            assert response.status_code != 403, (name, response.text)


def test_health_answers_the_loopback_names_only(sidecar):
    host, port = _host_port(sidecar)
    assert httpx.get(f"{sidecar.url}/v1/health", headers={"Host": f"localhost:{port}"}).json()["status"] == "ok"
    refused = httpx.get(f"{sidecar.url}/v1/health", headers={"Host": f"rebound.example:{port}"})
    assert refused.status_code == 403 and "queue_length" not in refused.text


# --- 3. NaN results --------------------------------------------------------------------------------


def _reject_constant(name):
    raise AssertionError(f"the reply holds {name}, which is not JSON")


def test_float_audio_far_past_full_scale_gives_finite_curves(client):
    speech, rate = sf.read(io.BytesIO(speech_clip(1.0)), dtype="float32")
    loud = encode_audio((speech * 1e19).astype(np.float32), rate, "WAV", "FLOAT")
    created = client.post("/v1/jobs", json={"audio": b64(loud), "steps": 2, "seed": 1})
    assert created.status_code == 202, created.text
    assert wait_for(client, created.json()["id"])["status"] == "done"
    raw = client.get(f"/v1/jobs/{created.json()['id']}/result").content
    result = json.loads(raw, parse_constant=_reject_constant)
    takes = np.array([t["frames"] for t in result["takes"]])
    assert takes.shape == (1, 30, arkit.NUM_CHANNELS) and np.all(np.isfinite(takes))
    assert np.all((takes >= 0) & (takes <= 1))
    # The same clip at its normal level moves the face the same way: the level was normalised.
    normal_level = b64(encode_audio(speech, rate, "WAV", "FLOAT"))
    normal = client.post("/v1/jobs", json={"audio": normal_level, "steps": 2, "seed": 1})
    wait_for(client, normal.json()["id"])
    same = np.array([t["frames"] for t in client.get(f"/v1/jobs/{normal.json()['id']}/result").json()["takes"]])
    assert np.abs(same - takes).max() < 0.05


@pytest.fixture(scope="module")
def poisoned_checkpoint(tiny_checkpoint, tmp_path_factory):
    """The tiny model with its audio encoder's output weights set to NaN: a damaged checkpoint
    whose every take is NaN, which the sidecar must never send."""
    from safetensors.torch import load_file, save_file

    path = tmp_path_factory.mktemp("poisoned") / "model"
    shutil.copytree(tiny_checkpoint, path)
    weights = load_file(path / "model.safetensors")
    weights["encoder.out.weight"] = weights["encoder.out.weight"].clone().fill_(float("nan"))
    save_file(weights, path / "model.safetensors")
    return path


def test_a_job_whose_takes_are_not_finite_fails_clearly(poisoned_checkpoint, tmp_path):
    server = start_sidecar(poisoned_checkpoint, tmp_path)
    try:
        with server.client() as c:
            created = c.post("/v1/jobs", json={"audio": b64(speech_clip(1.0)), "steps": 2, "lip_closure": 0})
            assert created.status_code == 202, created.text
            status = wait_for(c, created.json()["id"])
            assert status["status"] == "failed"
            assert "not finite" in status["error"] and "checkpoint" in status["error"]
            result = c.get(f"/v1/jobs/{created.json()['id']}/result")
            assert result.status_code == 409 and "not finite" in result.json()["error"]
            assert "NaN" not in result.text.replace("(NaN", "")  # the body is JSON; the message may name NaN
            json.loads(result.content, parse_constant=_reject_constant)
    finally:
        assert server.stop() == 0


# --- 4. memory amplification ------------------------------------------------------------------------


def test_many_channel_ogg_of_silence_is_refused_from_its_header(sidecar, client):
    ogg = encode_audio(np.zeros((48000 * 120, 64), np.float32), 48000, "OGG", "VORBIS")
    assert len(ogg) < 2 * 1024 * 1024  # a small file that decodes to 1.5 GB of float32
    reset_peak_memory(sidecar.process.pid)
    before = memory_mib(sidecar.process.pid)
    response = client.post("/v1/jobs", json={"audio": b64(ogg)})
    assert response.status_code == 422 and response.json()["field"] == "audio"
    assert "64 channels" in response.json()["error"]
    assert memory_mib(sidecar.process.pid) - before < 100, "the refused file was decoded anyway"


def test_high_rate_flac_is_refused_before_decoding(sidecar, client):
    flac = encode_audio(np.zeros((96000 * 120, 2), np.float32), 96000, "FLAC")
    reset_peak_memory(sidecar.process.pid)
    before = memory_mib(sidecar.process.pid)
    response = client.post("/v1/jobs", json={"audio": b64(flac)})
    assert response.status_code == 422 and "96000 Hz" in response.json()["error"]
    assert memory_mib(sidecar.process.pid) - before < 100, "the refused file was decoded anyway"


def test_kept_results_are_bounded_by_bytes(tiny_checkpoint, tmp_path, one_second):
    # It keeps 0.04 MiB (41,943 bytes); 4 takes of 30 frames are 24,960 bytes.
    server = start_sidecar(tiny_checkpoint, tmp_path, "--keep-result-mib", "0.04")
    try:
        with server.client() as client:
            _two_results_in_a_small_budget(client, one_second)
    finally:
        assert server.stop() == 0


def _two_results_in_a_small_budget(client, one_second):
    first = client.post("/v1/jobs", json={"audio": one_second, "samples": 4, "steps": 2}).json()
    assert wait_for(client, first["id"])["status"] == "done"
    second = client.post("/v1/jobs", json={"audio": one_second, "samples": 4, "steps": 2}).json()
    assert wait_for(client, second["id"])["status"] == "done"
    assert client.get(f"/v1/jobs/{second['id']}/result").status_code == 200
    assert client.get(f"/v1/jobs/{first['id']}").status_code == 404  # dropped to stay within the bytes
    too_big = client.post("/v1/jobs", json={"audio": one_second, "samples": 16, "steps": 2})
    assert too_big.status_code == 422 and too_big.json()["field"] == "samples", too_big.text
    assert "MiB" in too_big.json()["error"]


# --- 5. health and status while uploads are in flight ------------------------------------------------


@pytest.fixture(scope="module")
def slow_upload() -> str:
    """Three minutes of 48 kHz noise as OGG: a long decode and resampling per upload."""
    noise = np.random.default_rng(0).uniform(-0.3, 0.3, 48000 * 180).astype(np.float32)
    return b64(encode_audio(noise, 48000, "OGG", "VORBIS"))


def _eventually_health(sidecar, condition) -> dict:
    deadline = time.monotonic() + GUARD_S
    while time.monotonic() < deadline:
        health = httpx.get(f"{sidecar.url}/v1/health", timeout=GUARD_S).json()
        if condition(health):
            return health
        time.sleep(0.01)
    raise AssertionError(f"health never showed the expected uploads: {health}")


def test_every_upload_slot_taken_health_and_status_still_answer(sidecar, client, one_second):
    job = client.post("/v1/jobs", json={"audio": one_second, "steps": 1}).json()
    host, port = _host_port(sidecar)
    body = json.dumps({"audio": one_second, "steps": 1, "lip_closure": 0}).encode()
    head = (f"POST /v1/jobs HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {sidecar.token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    # Uploads that have sent half their body hold every slot while they are read.
    held = [socket.create_connection((host, port)) for _ in range(limits.MAX_UPLOADS_IN_FLIGHT)]
    for sock in held:
        sock.sendall(head + body[: len(body) // 2])
    health = _eventually_health(sidecar, lambda h: h["uploads_in_flight"] == limits.MAX_UPLOADS_IN_FLIGHT)
    assert health["status"] == "ok"
    # Every slot is taken: status still answers, and one more upload is refused at once.
    assert client.get(f"/v1/jobs/{job['id']}").status_code == 200
    refused = client.post("/v1/jobs", json={"audio": one_second, "steps": 1})
    assert refused.status_code == 503 and refused.headers["retry-after"] == "5", refused.text
    assert "uploads" in refused.json()["error"]
    for sock in held:  # the held uploads finish and are queued as jobs
        sock.sendall(body[len(body) // 2:])
    for sock in held:
        response = _response_head(sock)
        assert response.startswith(b"HTTP/1.1 202"), response[:200]
        sock.close()
    _eventually_health(sidecar, lambda h: h["uploads_in_flight"] == 0)


def _response_head(sock: socket.socket) -> bytes:
    sock.settimeout(GUARD_S)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_health_answers_throughout_many_slow_uploads(sidecar, slow_upload):
    uploads = 45
    codes: list[tuple[int, str | None]] = []
    clients = [sidecar.client() for _ in range(uploads)]  # made before, so the uploads start together
    done = threading.Event()

    def upload(c):
        response = c.post("/v1/jobs", json={"audio": slow_upload, "steps": 1, "lip_closure": 0})
        if response.status_code == 202:  # not run: the later tests measure the sidecar's memory
            c.delete(f"/v1/jobs/{response.json()['id']}")
        codes.append((response.status_code, response.headers.get("retry-after")))
        if len(codes) == uploads:
            done.set()

    threads = [threading.Thread(target=upload, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    seen_in_flight = []
    while not done.is_set():  # health answers while they are read and decoded
        health = httpx.get(f"{sidecar.url}/v1/health", timeout=GUARD_S)
        assert health.status_code == 200
        seen_in_flight.append(health.json()["uploads_in_flight"])
    for t in threads:
        t.join()
    for c in clients:
        c.close()
    assert max(seen_in_flight) >= 2  # answered while decodes were under way
    assert {code for code, _ in codes} <= {202, 503}
    assert all(retry == "5" for code, retry in codes if code == 503)
    assert sum(code == 202 for code, _ in codes) >= limits.MAX_UPLOADS_IN_FLIGHT


# --- 6. read timeouts and the connection cap ----------------------------------------------------------


def _closed_by_server(sock: socket.socket) -> bytes:
    """What the server sent before closing ``sock`` (it must close it within the guard)."""
    sock.settimeout(GUARD_S)
    received = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return received
        received += chunk


MAX_CONNECTIONS = 8


def test_slow_and_silent_connections_are_closed_and_capped(tiny_checkpoint, tmp_path):
    sidecar = start_sidecar(tiny_checkpoint, tmp_path, "--max-connections", str(MAX_CONNECTIONS))
    try:
        _slowloris(sidecar)
    finally:
        assert sidecar.stop() == 0


def _slowloris(sidecar):
    host, port = _host_port(sidecar)
    silent = [socket.create_connection((host, port)) for _ in range(3)]
    partial_headers = socket.create_connection((host, port))
    partial_headers.sendall(b"GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
    partial_body = socket.create_connection((host, port))
    partial_body.sendall(f"POST /v1/jobs HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {sidecar.token}\r\n"
                         "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"audio\": \"".encode())
    held = silent + [partial_headers, partial_body]
    fillers = [socket.create_connection((host, port)) for _ in range(MAX_CONNECTIONS - len(held))]
    time.sleep(0.5)  # let the server accept them all (a guard for ordering, not a speed check)
    over = socket.create_connection((host, port))
    answer = _closed_by_server(over)
    assert answer.startswith(b"HTTP/1.1 503") and b"retry-after" in answer.lower(), answer[:200]
    for sock in held + fillers:
        answer = _closed_by_server(sock)
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
        sock.close()
    over.close()
    assert httpx.get(f"{sidecar.url}/v1/health").status_code == 200  # served again once they are gone


# --- 7. TCP_NODELAY ---------------------------------------------------------------------------------------


def _server_socket_option(pid: int, peer: tuple[str, int], level: int, option: int) -> int:
    """Read a socket option of the server's end of the connection from ``peer`` (pidfd_getfd)."""
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        for name in os.listdir(f"/proc/{pid}/fd"):
            fd = libc.syscall(438, pidfd, int(name), 0)  # SYS_pidfd_getfd
            if fd < 0:
                if ctypes.get_errno() in (1, 38):  # EPERM, ENOSYS
                    pytest.skip("pidfd_getfd is not allowed here")
                continue
            sock = None
            try:
                sock = socket.socket(fileno=fd)
                if sock.type == socket.SOCK_STREAM and sock.getpeername() == peer:
                    return sock.getsockopt(level, option)
            except OSError:
                pass
            finally:
                if sock is not None:
                    sock.detach()
                os.close(fd)
    finally:
        os.close(pidfd)
    raise AssertionError(f"no server socket connected to {peer}")


def test_accepted_sockets_have_tcp_nodelay(sidecar):
    host, port = _host_port(sidecar)
    with socket.create_connection((host, port)) as sock:
        sock.sendall(f"GET /v1/health HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        assert _server_socket_option(sidecar.process.pid, sock.getsockname(), socket.IPPROTO_TCP,
                                     socket.TCP_NODELAY) == 1


# --- 8. two sidecars on one state file --------------------------------------------------------------------


def _state_names(path, pid: int) -> bool:
    try:
        return json.loads(path.read_text()).get("pid") == pid
    except (OSError, ValueError):
        return False


def _eventually(condition) -> bool:
    deadline = time.monotonic() + GUARD_S
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("newer_ends", ["stopped", "killed"])
def test_the_older_of_two_sidecars_is_found_again_when_the_newer_ends(tiny_checkpoint, tmp_path, newer_ends):
    older = start_sidecar(tiny_checkpoint, tmp_path)
    newer = start_sidecar(tiny_checkpoint, tmp_path)
    try:
        assert older.state_file == newer.state_file and _state_names(newer.state_file, newer.process.pid)
        time.sleep(2 * STATE_CHECK_INTERVAL_S)  # two of the older one's checks: a live newer one's file stays
        assert _state_names(newer.state_file, newer.process.pid)
        if newer_ends == "stopped":
            assert newer.stop() == 0
        else:
            newer.stop(signal.SIGKILL)
        assert _eventually(lambda: _state_names(older.state_file, older.process.pid))
        state = json.loads(older.state_file.read_text())
        assert state == older.startup and stat.S_IMODE(os.stat(older.state_file).st_mode) == 0o600
        endpoint = Endpoint(state["url"], state["token"], "state file")
        assert SidecarClient(endpoint).health()["status"] == "ok"
    finally:
        newer.stop()
        assert older.stop() == 0
    assert not older.state_file.exists()


# --- 9. deep nesting and huge integers --------------------------------------------------------------------


@pytest.mark.parametrize("body,field", [
    (b'{"audio": "AAAA", "keys": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "keys" + "[0]" * 31),
    (b"[" * 100_000 + b"]" * 100_000, "body" + "[0]" * 32),
    (b'{"audio": "AAAA", "seed": ' + b"7" * 5000 + b"}", "seed"),
    (b'{"audio": "AAAA", "keys": [{"frame": -' + b"1" * 5000 + b', "channel": "jawOpen", "value": 1}]}',
     "keys[0].frame"),
])
def test_deep_nesting_and_huge_integers_get_400_naming_the_field(client, body, field):
    response = client.post("/v1/jobs", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    answer = response.json()
    assert answer["field"] == field and answer["error"].startswith(field + ":"), answer
    assert client.get("/v1/health").status_code == 200


def test_a_kept_alive_connection_that_stalls_in_its_next_request_is_closed(sidecar):
    host, port = _host_port(sidecar)
    with socket.create_connection((host, port)) as sock:
        sock.sendall(f"GET /v1/health HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
        first = _response_head(sock)
        assert first.startswith(b"HTTP/1.1 200")
        head, _, body = first.partition(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length"))
        while len(body) < length:  # the rest of the health body, so what follows is the next answer
            body += sock.recv(length - len(body))
        sock.sendall(b"GET /v1/health HTTP/1.1\r\n")  # the next request stalls in its headers
        rest = _closed_by_server(sock)
        assert b"HTTP/1.1 408" in rest, rest[-300:]
