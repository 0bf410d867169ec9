"""Clients that go away mid-upload, right after submitting, or mid-download do not wedge the
sidecar: it keeps answering and the worker keeps taking jobs."""

from __future__ import annotations

import json
import socket

from tests.sidecar_process import b64, client, one_second, sidecar_fixture, speech_clip, wait_for  # noqa: F401

sidecar = sidecar_fixture()


def raw_connection(sidecar) -> socket.socket:
    host, port = sidecar.url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)))


def host_header(sidecar) -> str:
    return sidecar.url.removeprefix("http://")  # the sidecar answers only the names it is bound to


def post_head(sidecar, length: int) -> bytes:
    return (f"POST /v1/jobs HTTP/1.1\r\nHost: {host_header(sidecar)}\r\nAuthorization: Bearer {sidecar.token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n").encode()


def still_serving(client, one_second) -> None:
    job = client.post("/v1/jobs", json={"audio": one_second, "steps": 2}).json()
    assert wait_for(client, job["id"])["status"] == "done"
    assert client.get(f"/v1/jobs/{job['id']}/result").status_code == 200


def test_client_gone_mid_upload(sidecar, client, one_second):
    body = json.dumps({"audio": one_second, "steps": 2}).encode()
    for _ in range(5):
        with raw_connection(sidecar) as s:
            s.sendall(post_head(sidecar, len(body)) + body[: len(body) // 2])
    assert client.get("/v1/health").json()["queue_length"] == 0
    still_serving(client, one_second)


def test_client_gone_right_after_submitting(sidecar, client, one_second):
    body = json.dumps({"audio": one_second, "steps": 2, "seed": 77}).encode()
    for _ in range(3):
        with raw_connection(sidecar) as s:
            s.sendall(post_head(sidecar, len(body)) + body)
            s.shutdown(socket.SHUT_WR)  # and never read the answer
    still_serving(client, one_second)
    while client.get("/v1/health").json()["queue_length"]:  # the orphans run and finish too
        pass


def test_client_gone_mid_download(sidecar, client, one_second):
    job = client.post("/v1/jobs", json={"audio": b64(speech_clip(20.0)), "samples": 16, "steps": 2}).json()
    assert wait_for(client, job["id"])["status"] == "done"
    for _ in range(3):
        with raw_connection(sidecar) as s:
            s.sendall(f"GET /v1/jobs/{job['id']}/result HTTP/1.1\r\nHost: {host_header(sidecar)}\r\n"
                      f"Authorization: Bearer {sidecar.token}\r\n\r\n".encode())
            assert s.recv(1024).startswith(b"HTTP/1.1 200")
    result = client.get(f"/v1/jobs/{job['id']}/result").json()
    assert len(result["takes"]) == 16 and len(result["takes"][0]["frames"]) == 600
    still_serving(client, one_second)


def test_idle_connections_do_not_block_others(sidecar, client, one_second):
    idle = [raw_connection(sidecar) for _ in range(20)]
    try:
        idle[0].sendall(b"GET /v1/health HTTP/1.1\r\n")  # a request that never ends its headers
        still_serving(client, one_second)
    finally:
        for s in idle:
            s.close()
