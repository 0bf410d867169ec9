"""Load: 50 jobs from 8 concurrent clients on loopback, some cancelled. Every job not cancelled
completes with its own correct result (shape, seeds, its own pins met); none is lost, none
runs twice, and the one worker never overlaps two jobs."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from addon.core import arkit
from tests.sidecar_process import b64, sidecar_fixture, speech_clip, wait_for

JOBS = 50
CLIENTS = 8
FRAMES = 30  # 1 s at 30 fps

sidecar = sidecar_fixture("--keep-results", str(2 * JOBS))


def job_request(i: int, audio: str) -> dict:
    # Each job pins jawOpen to a value no other job uses, so a result that went to the wrong
    # job would show it.
    return {"audio": audio, "seed": 1000 * i, "samples": 1 + i % 3, "steps": 2 + i % 3,
            "keys": [{"frame": i % FRAMES, "channel": "jawOpen", "value": (i + 1) / 100},
                     {"frame": (7 * i) % FRAMES, "channel": "MouthClose", "value": 0.25}]}


def cancelled_on_purpose(i: int) -> bool:
    return i % 5 == 4


def test_fifty_jobs_from_eight_clients(sidecar):
    audio = b64(speech_clip(1.0))
    outcome: dict[int, dict] = {}
    errors: list[str] = []
    lock = threading.Lock()

    def client_run(worker: int):
        mine = list(range(worker, JOBS, CLIENTS))
        try:
            with sidecar.client() as c:
                ids = {}
                for i in mine:
                    response = c.post("/v1/jobs", json=job_request(i, audio))
                    assert response.status_code == 202, response.text
                    ids[i] = response.json()["id"]
                cancels = {i: c.delete(f"/v1/jobs/{ids[i]}").json()["status"] for i in mine if cancelled_on_purpose(i)}
                for i in mine:
                    record = {"id": ids[i], "cancel_answer": cancels.get(i)}
                    response = c.get(f"/v1/jobs/{ids[i]}")
                    if response.status_code == 404:  # cancelled after it finished: DELETE forgot it
                        assert cancels.get(i) == "done"
                        record["status"] = "forgotten"
                    else:
                        status = wait_for(c, ids[i])
                        record["status"] = status["status"]
                        record["window"] = (status["started"], status["finished"])
                        if status["status"] == "done":
                            record["result"] = c.get(f"/v1/jobs/{ids[i]}/result").json()
                    with lock:
                        outcome[i] = record
        except Exception as e:  # reported below with the job's client, not lost in the thread
            with lock:
                errors.append(f"client {worker}: {e!r}")

    threads = [threading.Thread(target=client_run, args=(w,)) for w in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert sorted(outcome) == list(range(JOBS))
    assert len({r["id"] for r in outcome.values()}) == JOBS

    for i, record in outcome.items():
        if cancelled_on_purpose(i):
            assert record["status"] in ("cancelled", "forgotten") or record["cancel_answer"] == "done", record
            continue
        assert record["status"] == "done", (i, record)
        request, result = job_request(i, audio), record["result"]
        takes = np.array([t["frames"] for t in result["takes"]])
        assert takes.shape == (request["samples"], FRAMES, arkit.NUM_CHANNELS)
        assert [t["seed"] for t in result["takes"]] == [request["seed"] + k for k in range(request["samples"])]
        for key in request["keys"]:
            column = arkit.INDEX[arkit.canonical_name(key["channel"])]
            np.testing.assert_allclose(takes[:, key["frame"], column], key["value"], atol=1e-6)
    cancelled = sum(r["status"] == "cancelled" for r in outcome.values())
    assert cancelled >= 1  # at least some cancels caught their job before it finished

    # One worker: the jobs that ran did so one after another, each exactly once.
    windows = sorted(r["window"] for r in outcome.values() if r.get("window") and r["window"][0] is not None
                     and r["status"] == "done")
    for (_, end), (start, _) in zip(windows, windows[1:]):
        assert end <= start
    with sidecar.client() as c:
        assert c.get("/v1/health").json()["queue_length"] == 0
