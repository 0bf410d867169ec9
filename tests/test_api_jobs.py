"""The job store in-process, with the real tiny engine: one worker in FIFO order, bounds on
pending work, cancellation, shutdown, and finished jobs dropped by count and by age (a
controllable clock stands in for time passing)."""

from __future__ import annotations

import dataclasses
import time

import pytest

from server.api.jobs import JobStore, QueueFull, ShuttingDown
from server.api.models import JobRequest
from server.api.prepare import prepare
from server.limits import StoreLimits
from tests.sidecar_process import JOB_GUARD_S, minute, one_second  # noqa: F401


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def work(audio: str, **fields):
    return prepare(JobRequest(audio=audio, **{"steps": 2, "seed": 0, **fields}))


def settle(store: JobStore, job_id: str) -> dict:
    deadline = time.monotonic() + JOB_GUARD_S
    while time.monotonic() < deadline:
        status = store.status(job_id)
        if status is None or status["status"] in ("done", "failed", "cancelled"):
            return status
        time.sleep(0.01)
    raise AssertionError(f"job {job_id} did not finish: {status}")


def wait_running(store: JobStore, job_id: str) -> None:
    while store.status(job_id)["status"] == "queued":
        time.sleep(0.005)


@pytest.fixture
def make_store(engine):
    stores = []

    def make(clock=time.monotonic, **limits):
        store = JobStore(engine, StoreLimits(**limits), clock=clock)
        store.start()
        stores.append(store)
        return store

    yield make
    for store in stores:
        store.shutdown()
        assert store.join(JOB_GUARD_S)


def test_jobs_run_one_at_a_time_in_order(make_store, one_second):
    store = make_store()
    jobs = [store.submit(work(one_second, seed=i)) for i in range(4)]
    statuses = [settle(store, job.id) for job in jobs]
    assert [s["status"] for s in statuses] == ["done"] * 4
    for earlier, later in zip(statuses, statuses[1:]):
        assert earlier["finished"] <= later["started"]
    assert [job.seeds for job in jobs] == [[0], [1], [2], [3]]


def test_pending_work_is_bounded_by_count_and_audio(make_store, minute, one_second):
    store = make_store(max_pending=2, max_pending_audio_s=90.0)
    store.submit(work(minute, samples=16, steps=200))
    with pytest.raises(QueueFull, match="minutes of audio"):
        store.submit(work(minute))
    store.submit(work(one_second))
    with pytest.raises(QueueFull, match="the limit is 2"):
        store.submit(work(one_second))


def test_cancelled_queued_job_never_runs(make_store, minute, one_second):
    store = make_store()
    running = store.submit(work(minute, samples=16, steps=200))
    queued = store.submit(work(one_second))
    wait_running(store, running.id)
    assert store.cancel(queued.id)["status"] == "cancelled"
    assert store.cancel(running.id)["status"] == "cancelled"
    after = store.submit(work(one_second))
    assert settle(store, after.id)["status"] == "done"
    assert store.status(queued.id)["started"] is None
    assert running.takes is None and queued.takes is None  # no result kept for a cancelled job


def test_engine_errors_fail_the_job_and_the_worker_goes_on(make_store, one_second):
    store = make_store()
    bad = dataclasses.replace(work(one_second), fps=1000.0)  # past the engine's own fps limit
    failed = store.submit(bad)
    good = store.submit(work(one_second))
    status = settle(store, failed.id)
    assert status["status"] == "failed" and status["error"].startswith("fps:")
    assert settle(store, good.id)["status"] == "done"


def test_finished_jobs_are_dropped_beyond_the_count(make_store, one_second):
    store = make_store(keep_finished=2)
    jobs = [store.submit(work(one_second, seed=i)) for i in range(3)]
    settle(store, jobs[2].id)
    assert store.status(jobs[0].id) is None
    assert [store.status(j.id)["status"] for j in jobs[1:]] == ["done", "done"]


def test_finished_jobs_expire(make_store, one_second, minute):
    clock = Clock()
    store = make_store(result_ttl_s=60.0, clock=clock)
    done = store.submit(work(one_second))
    settle(store, done.id)
    running = store.submit(work(minute, samples=16, steps=200))
    wait_running(store, running.id)
    clock.now += 59.0
    assert store.status(done.id)["status"] == "done"
    clock.now += 2.0
    assert store.status(done.id) is None
    clock.now += 3600.0  # a job still queued or running never expires
    assert store.status(running.id)["status"] == "running"


def test_shutdown_cancels_everything_and_stops_the_worker(engine, minute, one_second):
    store = JobStore(engine)
    store.start()
    running = store.submit(work(minute, samples=16, steps=200))
    queued = store.submit(work(one_second))
    wait_running(store, running.id)
    store.shutdown()
    assert store.join(JOB_GUARD_S)
    for job in (running, queued):
        status = store.status(job.id)
        assert status["status"] == "cancelled" and "shut down" in status["error"]
    with pytest.raises(ShuttingDown):
        store.submit(work(one_second))
