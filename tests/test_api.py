"""The sidecar HTTP API against a real `python -m server serve` process with a tiny trained model:
startup line and state file, token, job lifecycle, pins and edits honoured, and a clear 4xx
naming the field for every kind of bad request."""

from __future__ import annotations

import http.client
import io
import json
import os
import socket
import stat
import time

import numpy as np
import pytest
import soundfile as sf

from addon.core import arkit
from server.timebase import num_frames
from tests.sidecar_process import b64, client, minute, one_second, run_cli, sidecar_fixture, wait_for  # noqa: F401

MAX_AUDIO_S = 120.0
ENV_TOKEN = "a-token-from-the-environment-0123"
sidecar = sidecar_fixture("--max-audio-seconds", str(MAX_AUDIO_S), env={"MOUTHPIECE_TOKEN": ENV_TOKEN})


def submit(client, **body) -> dict:
    response = client.post("/v1/jobs", json=body)
    assert response.status_code == 202, response.text
    return response.json()


def run_job(client, **body) -> tuple[dict, dict]:
    created = submit(client, **body)
    status = wait_for(client, created["id"])
    assert status["status"] == "done", status
    result = client.get(f"/v1/jobs/{created['id']}/result")
    assert result.status_code == 200, result.text
    return created, result.json()


# --- startup, state file, token ------------------------------------------------------------


def test_startup_line_and_state_file_say_how_to_connect(sidecar):
    startup = sidecar.startup
    assert startup["url"].startswith("http://127.0.0.1:")
    assert startup["pid"] == sidecar.process.pid
    assert startup["model"] and startup["token"] == ENV_TOKEN
    assert json.loads(sidecar.state_file.read_text()) == startup
    assert stat.S_IMODE(os.stat(sidecar.state_file).st_mode) == 0o600


def test_health_needs_no_token_and_describes_the_model(sidecar):
    import httpx

    health = httpx.get(f"{sidecar.url}/v1/health").json()
    assert health["channels"] == list(arkit.CHANNELS)
    assert health["fps"] == 30.0 and health["model"] == sidecar.startup["model"]
    assert health["device"] == "cpu" and health["queue_length"] == 0
    assert health["version"] and health["limits"]["max_audio_seconds"] == MAX_AUDIO_S


@pytest.mark.parametrize("method,path", [
    ("GET", "/openapi.json"), ("POST", "/v1/jobs"), ("GET", "/v1/jobs/abc"),
    ("GET", "/v1/jobs/abc/result"), ("DELETE", "/v1/jobs/abc"), ("GET", "/no/such/path"), ("GET", "/docs")])
def test_every_endpoint_but_health_needs_the_token(sidecar, method, path):
    import httpx

    token = sidecar.token
    near_miss = token[:-1] + ("A" if token[-1] != "A" else "B")
    for headers in ({}, {"Authorization": f"Bearer {near_miss}"}, {"Authorization": token},
                    {"Authorization": f"Basic {token}"}, {"Authorization": f"Bearer {token}x"},
                    {"Authorization": f"Bearer {token[:-1]}"}, {"Authorization": f"Bearer  {token}"}):
        response = httpx.request(method, f"{sidecar.url}{path}", headers=headers, json={})
        assert response.status_code == 401, (headers, response.text)
        assert "Authorization" in response.json()["error"]
    response = httpx.request(method, f"{sidecar.url}{path}", headers=sidecar.auth)
    assert response.status_code != 401


def test_openapi_describes_every_endpoint(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert set(paths) == {"/v1/health", "/v1/jobs", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/result", "/v1/style"}


def test_no_cors_headers(sidecar, client):
    import httpx

    origin = {"Origin": "http://evil.example"}
    preflight = httpx.options(f"{sidecar.url}/v1/jobs", headers={**origin, "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 403  # a browser Origin is refused before anything else
    for response in (preflight, client.get("/v1/health", headers=origin)):
        assert not any(h.lower().startswith("access-control-") for h in response.headers)


# --- jobs -------------------------------------------------------------------------------------


def test_job_returns_takes_that_meet_every_pin(client, one_second):
    keys = [{"frame": 3, "channel": "JawOpen", "value": 0.8},  # Live Link Face spelling
            {"frame": 12, "channel": "mouth_close", "value": 0.05},
            {"frame": 20, "channel": "jawOpen", "value": 0.0},
            {"frame": 29, "channel": "browInnerUp", "value": 1.0}]
    created, result = run_job(client, audio=one_second, samples=3, seed=11, steps=3, keys=keys)
    takes = np.array([t["frames"] for t in result["takes"]])
    assert created["frames"] == num_frames(1.0, 30.0) == 30
    assert takes.shape == (3, 30, 52) and result["fps"] == 30.0
    assert result["channels"] == list(arkit.CHANNELS)
    assert [t["seed"] for t in result["takes"]] == [11, 12, 13]
    assert np.all((takes >= 0) & (takes <= 1))
    for key in keys:
        column = arkit.INDEX[arkit.canonical_name(key["channel"])]
        np.testing.assert_allclose(takes[:, key["frame"], column], key["value"], atol=1e-6)
    assert not np.allclose(takes[0], takes[1])  # different seeds, different takes


def test_same_seed_gives_the_same_take(client, one_second):
    first = run_job(client, audio=one_second, seed=5, steps=3)[1]
    again = run_job(client, audio=one_second, seed=5, steps=3)[1]
    assert first["takes"] == again["takes"]


def test_null_seed_is_chosen_and_reported(client, one_second):
    result = run_job(client, audio=one_second, steps=2, samples=2)[1]
    first, second = (t["seed"] for t in result["takes"])
    assert second == first + 1


def test_regenerate_keeps_the_existing_curves_outside_the_range(client, one_second):
    rng = np.random.default_rng(0)
    existing = rng.uniform(0.1, 0.9, size=(30, 52))
    order = rng.permutation(52)
    channels = [arkit.pascal_case(arkit.CHANNELS[i]) for i in order]  # any order, any accepted spelling
    body = {"channels": channels, "frames": existing[:, order].tolist()}
    _, result = run_job(client, audio=one_second, seed=3, steps=3, existing=body,
                        regenerate={"start": 10, "end": 19}, keys=[{"frame": 15, "channel": "jawOpen", "value": 0.6}])
    take = np.array(result["takes"][0]["frames"])
    np.testing.assert_allclose(take[:10], existing[:10], atol=1e-6)
    np.testing.assert_allclose(take[20:], existing[20:], atol=1e-6)
    assert abs(take[15, arkit.INDEX["jawOpen"]] - 0.6) < 1e-6
    assert np.abs(take[11:19] - existing[11:19]).max() > 0.01  # the range was generated anew


def test_regenerate_only_some_channels_and_offset(client, one_second):
    rng = np.random.default_rng(1)
    existing = rng.uniform(0.1, 0.9, size=(30, 52))
    body = {"channels": list(arkit.CHANNELS), "frames": existing.tolist()}
    _, result = run_job(client, audio=one_second, seed=3, steps=3, existing=body, offset=1.5,
                        regenerate={"start": 0, "end": 29, "channels": ["JawOpen", "mouth_close"]})
    take = np.array(result["takes"][0]["frames"])
    others = [i for i in range(52) if arkit.CHANNELS[i] not in ("jawOpen", "mouthClose")]
    np.testing.assert_allclose(take[:, others], existing[:, others], atol=1e-6)
    assert np.abs(take[:, arkit.INDEX["jawOpen"]] - existing[:, arkit.INDEX["jawOpen"]]).max() > 0.01


def test_other_frame_rates(client, one_second):
    created, result = run_job(client, audio=one_second, fps=24, steps=2,
                              keys=[{"frame": 23, "channel": "jawOpen", "value": 0.5}])
    assert created["frames"] == num_frames(1.0, 24.0) == len(result["takes"][0]["frames"])
    assert result["fps"] == 24.0 and abs(result["takes"][0]["frames"][23][arkit.INDEX["jawOpen"]] - 0.5) < 1e-6


def test_status_reports_progress_and_queue_position(client, minute):
    running = submit(client, audio=minute, samples=16, steps=200, seed=1)
    queued = submit(client, audio=minute, samples=1, steps=2, seed=2)
    status = wait_for(client, running["id"], statuses=("running",))
    assert status["queue_position"] is None and status["started"] is not None
    behind = client.get(f"/v1/jobs/{queued['id']}").json()
    assert behind["status"] == "queued" and behind["queue_position"] == 0
    assert client.get("/v1/health").json()["queue_length"] == 2
    assert client.get(f"/v1/jobs/{queued['id']}/result").status_code == 409
    cancelled = client.delete(f"/v1/jobs/{queued['id']}").json()
    assert cancelled["status"] == "cancelled"
    assert client.delete(f"/v1/jobs/{running['id']}").json()["status"] == "cancelled"
    response = client.get(f"/v1/jobs/{running['id']}/result")
    assert response.status_code == 409 and "cancelled" in response.json()["error"]


def test_cancel_frees_the_worker_at_once(client, one_second, minute):
    long_job = submit(client, audio=minute, samples=16, steps=200, seed=1)
    status = wait_for(client, long_job["id"], statuses=("running",))
    while not (status["stage"].startswith("denoising step") and int(status["stage"].split()[2].split("/")[0]) >= 2):
        time.sleep(0.01)
        status = client.get(f"/v1/jobs/{long_job['id']}").json()
    steps_done = int(status["stage"].split()[2].split("/")[0])
    seconds_per_step = (time.time() - status["started"]) / steps_done  # an overestimate: includes encoding
    cancelled = client.delete(f"/v1/jobs/{long_job['id']}").json()
    assert cancelled["status"] == "cancelled"
    short = run_job(client, audio=one_second, steps=2)[0]
    short_started = client.get(f"/v1/jobs/{short['id']}").json()["started"]
    assert client.get(f"/v1/jobs/{long_job['id']}").json()["status"] == "cancelled"
    # Measured against the engine's own pace, not a fixed time: the worker took the next job
    # within a few steps of the cancel, not after the ~198 steps the long job had left.
    assert short_started - cancelled["finished"] < 10 * seconds_per_step + 1.0, (seconds_per_step, cancelled)


def test_delete_forgets_a_finished_job(client, one_second):
    created, _ = run_job(client, audio=one_second, steps=2)
    assert client.delete(f"/v1/jobs/{created['id']}").json()["status"] == "done"
    for response in (client.get(f"/v1/jobs/{created['id']}"), client.delete(f"/v1/jobs/{created['id']}")):
        assert response.status_code == 404 and created["id"] in response.json()["error"]


def test_unknown_job_is_404(client):
    for path in ("/v1/jobs/nope", "/v1/jobs/nope/result"):
        response = client.get(path)
        assert response.status_code == 404 and "expired" in response.json()["error"]


# --- bad requests -------------------------------------------------------------------------------


def _wav(seconds: float, rate: int = 16000, fmt: str = "WAV") -> str:
    out = io.BytesIO()
    sf.write(out, np.zeros(int(seconds * rate), np.float32), rate, format=fmt)
    return b64(out.getvalue())


def _existing(rows=30, channels=arkit.CHANNELS, width=None):
    width = len(channels) if width is None else width
    return {"channels": list(channels), "frames": [[0.5] * width for _ in range(rows)]}


KEY = {"frame": 0, "channel": "jawOpen", "value": 0.5}
BAD_BODIES = {
    # name: (changes to a good body, field named in the answer)
    "samples wrong type": ({"samples": "two"}, "samples"),
    "samples zero": ({"samples": 0}, "samples"),
    "samples absurd": ({"samples": 1000}, "samples"),
    "steps absurd": ({"steps": 100000}, "steps"),
    "steps zero": ({"steps": 0}, "steps"),
    "guidance negative": ({"guidance": -1}, "guidance"),
    "lip_closure above 1": ({"lip_closure": 1.5}, "lip_closure"),
    "seed negative": ({"seed": -1}, "seed"),
    "fps zero": ({"fps": 0}, "fps"),
    "unknown field": ({"sample": 2}, "sample"),
    "audio missing": ({"audio": None}, "audio"),
    "audio not base64": ({"audio": "this is not base64!"}, "audio"),
    "audio empty file": ({"audio": b64(b"")}, "audio"),
    "audio corrupt": ({"audio": b64(b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk" * 20)}, "audio"),
    "audio too short": ({"audio": _wav(0.05)}, "audio"),
    "audio too long": ({"audio": _wav(MAX_AUDIO_S + 1)}, "audio"),
    "audio long flac of silence": ({"audio": _wav(MAX_AUDIO_S * 6, fmt="FLAC")}, "audio"),
    "key unknown channel": ({"keys": [{**KEY, "channel": "jawOpn"}]}, "keys[0].channel"),
    "key frame past the end": ({"keys": [KEY, {**KEY, "frame": 30}]}, "keys[1].frame"),
    "key frame negative": ({"keys": [{**KEY, "frame": -1}]}, "keys[0].frame"),
    "key value above 1": ({"keys": [{**KEY, "value": 1.5}]}, "keys[0].value"),
    "key value not a number": ({"keys": [{**KEY, "value": "high"}]}, "keys[0].value"),
    "key twice": ({"keys": [KEY, {**KEY, "channel": "JawOpen"}]}, "keys[1]"),
    "key without value": ({"keys": [{"frame": 1, "channel": "jawOpen"}]}, "keys[0].value"),
    "regenerate without existing": ({"regenerate": {"start": 1, "end": 2}}, "regenerate"),
    "existing without regenerate": ({"existing": _existing()}, "existing"),
    "regenerate unknown channel": ({"existing": _existing(), "regenerate": {"start": 1, "end": 2,
                                                                            "channels": ["jawOpen", "chin"]}},
                                   "regenerate.channels[1]"),
    "regenerate channel twice": ({"existing": _existing(), "regenerate": {"start": 1, "end": 2,
                                                                          "channels": ["jawOpen", "JawOpen"]}},
                                 "regenerate.channels[1]"),
    "offset over a second": ({"offset": 31}, "offset"),
    "offset not a number": ({"offset": "early"}, "offset"),
    "regenerate reversed": ({"existing": _existing(), "regenerate": {"start": 5, "end": 4}}, "regenerate"),
    "regenerate past the end": ({"existing": _existing(), "regenerate": {"start": 5, "end": 30}}, "regenerate.end"),
    "existing too few rows": ({"existing": _existing(rows=29), "regenerate": {"start": 1, "end": 2}},
                              "existing.frames"),
    "existing short row": ({"existing": _existing(width=51), "regenerate": {"start": 1, "end": 2}},
                           "existing.frames[0]"),
    "existing missing channel": ({"existing": _existing(channels=arkit.CHANNELS[:51]),
                                  "regenerate": {"start": 1, "end": 2}}, "existing.channels"),
    "existing unknown channel": ({"existing": _existing(channels=("nose",) + arkit.CHANNELS[1:]),
                                  "regenerate": {"start": 1, "end": 2}}, "existing.channels[0]"),
    "existing channel twice": ({"existing": _existing(channels=arkit.CHANNELS[:51] + ("JawOpen",)),
                                "regenerate": {"start": 1, "end": 2}}, "existing.channels[51]"),
}


@pytest.mark.parametrize("name", list(BAD_BODIES))
def test_bad_request_gets_a_4xx_naming_the_field(client, one_second, name):
    changes, field = BAD_BODIES[name]
    body = {"audio": one_second, "steps": 2, **changes}
    body = {k: v for k, v in body.items() if v is not None}
    response = client.post("/v1/jobs", json=body)
    assert response.status_code == 422, response.text
    answer = response.json()
    assert answer["field"] == field and answer["error"].startswith(field + ":"), answer
    assert client.get("/v1/health").status_code == 200


@pytest.mark.parametrize("raw,field", [
    (b'{"audio": "AAAA", "steps": 2', "body"),  # malformed JSON
    (b'["audio"]', "body"),
    (b'{"audio": "%s", "guidance": NaN}', "guidance"),
    (b'{"audio": "%s", "fps": Infinity}', "fps"),
    (b'{"audio": "%s", "keys": [{"frame": 1, "channel": "jawOpen", "value": -Infinity}]}', "keys[0].value"),
    (b'{"audio": "%s", "existing": {"channels": [], "frames": [[NaN]]}, "regenerate": {"start": 0, "end": 0}}',
     "existing.channels"),
])
def test_malformed_json_and_non_finite_numbers_get_422(client, one_second, raw, field):
    if b"%s" in raw:
        raw = raw.replace(b"%s", one_second.encode())
    response = client.post("/v1/jobs", content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field, response.json()


def test_nan_in_existing_curves_names_the_cell(client, one_second):
    existing = json.dumps(_existing()).replace("0.5", "NaN", 1)
    raw = f'{{"audio": "{one_second}", "existing": {existing}, "regenerate": {{"start": 0, "end": 1}}}}'
    response = client.post("/v1/jobs", content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 422 and response.json()["field"] == "existing.frames[0][0]"


def test_existing_value_outside_0_1_names_the_cell(client, one_second):
    existing = _existing()
    existing["frames"][7][3] = 1.25
    response = client.post("/v1/jobs", json={"audio": one_second, "existing": existing,
                                             "regenerate": {"start": 0, "end": 1}})
    assert response.status_code == 422 and response.json()["field"] == "existing.frames[7][3]"


def test_body_over_the_limit_is_413_before_it_is_read(sidecar):
    host, port = sidecar.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as s:
        s.sendall(f"POST /v1/jobs HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {sidecar.token}\r\n"
                  f"Content-Type: application/json\r\nContent-Length: {64 * 1024 * 1024 + 1}\r\n\r\n".encode())
        response = http.client.HTTPResponse(s)
        response.begin()
        answer = json.loads(response.read())
    assert response.status == 413 and "MiB" in answer["error"]


def test_streamed_body_over_the_limit_is_413(client):
    chunk = b" " * (1024 * 1024)

    def body():
        yield b'{"audio": "'
        for _ in range(65):
            yield chunk

    response = client.post("/v1/jobs", content=body(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413, response.text
    assert client.get("/v1/health").status_code == 200


# --- the serve command ----------------------------------------------------------------------------


def test_refuses_a_public_address_without_a_token(tiny_checkpoint):
    done = run_cli("--host", "0.0.0.0", "--port", "0", "--checkpoint", str(tiny_checkpoint),
                   env={"MOUTHPIECE_TOKEN": ""})
    assert done.returncode == 2
    assert "not a loopback address" in json.loads(done.stdout.decode().splitlines()[0])["error"]


def test_refuses_a_short_token(tiny_checkpoint):
    done = run_cli("--port", "0", "--token", "short", "--checkpoint", str(tiny_checkpoint))
    assert done.returncode == 2 and "at least 16" in json.loads(done.stdout)["error"]


def test_port_in_use_is_a_clear_error(sidecar, tmp_path):
    port = sidecar.url.rsplit(":", 1)[1]
    done = run_cli("--port", port, "--checkpoint", str(tmp_path / "no-model"), "--state-file", str(tmp_path / "s.json"))
    assert done.returncode == 2 and "--port" in json.loads(done.stdout)["error"]
    assert not (tmp_path / "s.json").exists()


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    done = run_cli("--port", "0", "--checkpoint", str(tmp_path / "nothing"))
    assert done.returncode == 2 and "does not exist" in json.loads(done.stdout)["error"]
