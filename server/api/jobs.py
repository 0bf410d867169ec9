"""The job store: a FIFO of generation jobs run one at a time by a single worker thread.

One worker because one model on one device does one generation at a time faster than two
interleaved ones, and because it bounds memory. Cancelling sets the job's Event, which the
engine checks between sampler steps (and the progress callback checks too), so the worker
moves on to the next job at once.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass, field

import numpy as np

from addon.core import arkit
from server.errors import GenerationCancelled, InputError
from server.limits import RESULT_VALUE_BYTES, StoreLimits
from server.request import GenerationRequest

log = logging.getLogger("mouthpiece.api")

FINISHED = ("done", "failed", "cancelled")
# Without traffic the worker still wakes this often to drop expired results.
PURGE_INTERVAL_S = 30.0


class QueueFull(RuntimeError):
    pass


class ShuttingDown(RuntimeError):
    pass


class ResultTooLarge(ValueError):
    """The job's result alone would pass the bytes kept for results; ``str(e)`` says what to ask."""


def result_bytes(samples: int, frames: int) -> int:
    return samples * frames * arkit.NUM_CHANNELS * RESULT_VALUE_BYTES


@dataclass
class Job:
    id: str
    work: GenerationRequest | None  # dropped once the job finishes, to free the audio
    audio_seconds: float
    status: str = "queued"
    progress: float = 0.0
    stage: str = "queued"
    error: str | None = None
    takes: np.ndarray | None = None  # (N, T, 52) float32
    seeds: list[int] = field(default_factory=list)
    styles: list[dict] | None = None  # the style each take was drawn with (None: no style input)
    style_guidance: float | None = None
    closure_sources: list[str] = field(default_factory=list)
    fps: float = 30.0
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    finished_clock: float | None = None  # monotonic, for expiry
    cancel: threading.Event = field(default_factory=threading.Event)


class JobStore:
    def __init__(self, engine, limits: StoreLimits = StoreLimits(), clock=time.monotonic):
        self._engine = engine
        self.limits = limits
        self._clock = clock
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._jobs: dict[str, Job] = {}
        self._queue: deque[Job] = deque()
        self._finished: OrderedDict[str, None] = OrderedDict()  # oldest first
        self._kept_bytes = 0  # of the takes of the jobs in _finished
        self._running: Job | None = None
        self._stopping = False
        self._thread = threading.Thread(target=self._work, name="mouthpiece-worker", daemon=True)

    # -- the API's side ---------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def submit(self, work: GenerationRequest) -> Job:
        size = result_bytes(work.samples, work.frames)
        if size > self.limits.keep_result_bytes:
            raise ResultTooLarge(f"{work.samples} takes of {work.frames} frames would be a {size / 2**20:.0f} MiB "
                                 f"result, over the {self.limits.keep_result_bytes / 2**20:.0f} MiB this sidecar "
                                 "keeps; ask for fewer takes, a lower fps or shorter audio")
        with self._lock:
            if self._stopping:
                raise ShuttingDown("the server is shutting down")
            pending = [*self._queue, *([self._running] if self._running else [])]
            if len(pending) >= self.limits.max_pending:
                raise QueueFull(f"{len(pending)} jobs are queued or running (the limit is "
                                f"{self.limits.max_pending}); retry when some have finished")
            pending_audio = sum(j.audio_seconds for j in pending)
            if pending_audio + work.audio.duration > self.limits.max_pending_audio_s:
                raise QueueFull(f"queued jobs hold {pending_audio / 60:.1f} minutes of audio; this one would pass "
                                f"the limit of {self.limits.max_pending_audio_s / 60:g} minutes; retry later")
            job = Job(id=uuid.uuid4().hex, work=work, audio_seconds=work.audio.duration, fps=work.fps)
            self._jobs[job.id] = job
            self._queue.append(job)
            self._wake.notify_all()
            return job

    def status(self, job_id: str) -> dict | None:
        with self._lock:
            self._purge()
            job = self._jobs.get(job_id)
            return None if job is None else self._describe(job)

    def result(self, job_id: str) -> tuple[dict, Job] | None:
        """The status and the job (whose takes never change once done), or None."""
        with self._lock:
            self._purge()
            job = self._jobs.get(job_id)
            return None if job is None else (self._describe(job), job)

    def cancel(self, job_id: str) -> dict | None:
        """Cancel a queued or running job; forget a finished one. Returns the status it ends in."""
        with self._lock:
            self._purge()
            job = self._jobs.get(job_id)
            if job is None:
                return None
            if job.status == "queued":
                self._queue.remove(job)
                self._finish(job, "cancelled", stage="cancelled")
            elif job.status == "running":
                # The worker sees the Event at the engine's next step; the job is cancelled
                # for every client from now on, and whatever the engine still returns is dropped.
                job.cancel.set()
                self._finish(job, "cancelled", stage="cancelled", register=False)
            else:
                self._forget(job_id)
            return self._describe(job)

    def queue_length(self) -> int:
        with self._lock:
            return len(self._queue) + (1 if self._running is not None and self._running.status == "running" else 0)

    def shutdown(self) -> None:
        """Refuse new jobs, cancel every queued and running one, and let the worker exit."""
        with self._lock:
            self._stopping = True
            while self._queue:
                self._finish(self._queue.popleft(), "cancelled", stage="cancelled", error="the server shut down")
            if self._running is not None and self._running.status == "running":
                self._running.cancel.set()
                self._finish(self._running, "cancelled", stage="cancelled", error="the server shut down",
                             register=False)
            self._wake.notify_all()

    def join(self, timeout: float | None = None) -> bool:
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    # -- bookkeeping (call with the lock held) ----------------------------------------

    def _describe(self, job: Job) -> dict:
        position = None
        if job.status == "queued":
            position = self._queue.index(job)
        return {"id": job.id, "status": job.status, "progress": job.progress, "stage": job.stage,
                "error": job.error, "queue_position": position, "created": job.created,
                "started": job.started, "finished": job.finished}

    def _finish(self, job: Job, status: str, *, stage: str, error: str | None = None,
                register: bool = True) -> None:
        """Mark a job finished. ``register=False`` for the running job: it joins the finished
        (expiring) jobs only when the worker lets go of it, so expiry never races the worker."""
        job.status = status
        job.stage = stage
        job.error = error
        if status == "done":
            job.progress = 1.0
        job.work = None
        job.finished = time.time()
        job.finished_clock = self._clock()
        if register:
            self._register_finished(job)

    def _register_finished(self, job: Job) -> None:
        self._finished[job.id] = None
        self._kept_bytes += job.takes.nbytes if job.takes is not None else 0
        self._purge()

    def _forget(self, job_id: str) -> None:
        job = self._jobs.pop(job_id, None)
        if job_id in self._finished:
            del self._finished[job_id]
            if job is not None and job.takes is not None:
                self._kept_bytes -= job.takes.nbytes

    def _purge(self) -> None:
        """Drop finished jobs past their age, past the count kept, or past the bytes kept, oldest
        first. The newest finished job always stays: submit refused any result over the bytes."""
        now = self._clock()
        ttl, keep, budget = self.limits.result_ttl_s, self.limits.keep_finished, self.limits.keep_result_bytes
        while self._finished:
            oldest = next(iter(self._finished))
            job = self._jobs.get(oldest)
            expired = job is None or now - job.finished_clock > ttl
            if not expired and len(self._finished) <= keep and (self._kept_bytes <= budget or len(self._finished) == 1):
                break
            self._forget(oldest)

    # -- the worker -------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._stopping:
                    self._wake.wait(PURGE_INTERVAL_S)
                    self._purge()
                if not self._queue:  # stopping, nothing left
                    return
                job = self._queue.popleft()
                job.status, job.stage, job.started = "running", "starting", time.time()
                self._running = job
                work = job.work
            try:
                self._run(job, work)
            finally:
                with self._lock:
                    self._running = None
                    if job.id in self._jobs and job.id not in self._finished:
                        self._register_finished(job)
                    else:
                        self._purge()

    def _run(self, job: Job, work: GenerationRequest) -> None:
        def progress(fraction: float, stage: str) -> None:
            if job.cancel.is_set():
                raise GenerationCancelled("cancelled by a client")
            with self._lock:
                if job.status == "running":
                    job.progress = min(1.0, max(0.0, float(fraction)))
                    job.stage = str(stage)

        result, error = None, None
        try:
            result = self._engine.generate(work, progress=progress, cancel=job.cancel)
            status = "done"
        except GenerationCancelled:
            status = "cancelled"
        except InputError as e:
            status, error = "failed", str(e)
        except Exception as e:  # the worker must survive any engine failure and take the next job
            log.exception("job %s failed", job.id)
            status, error = "failed", f"internal error: {type(e).__name__}: {e}"
        takes = None
        if result is not None:
            takes = np.asarray(result.takes, dtype=np.float32)
            if (problem := _not_finite(takes)) is not None:
                log.error("job %s: %s", job.id, problem)
                status, error, takes = "failed", problem, None
        with self._lock:
            if job.status != "running":
                return  # cancelled meanwhile: whatever the engine returned is dropped
            if takes is not None:
                job.takes = takes
                job.seeds = [int(s) for s in result.seeds]
                job.fps = float(result.fps)
                job.styles = getattr(result, "styles", None)
                job.style_guidance = getattr(result, "style_guidance", None)
                job.closure_sources = list(getattr(result, "closure_sources", None) or [])
            self._finish(job, status, stage=status, error=error, register=False)


def _not_finite(takes: np.ndarray) -> str | None:
    """Why a result cannot be sent (a JSON number is finite; NaN would reach the rig), or None."""
    bad = np.argwhere(~np.isfinite(takes))
    if not len(bad):
        return None
    take, frame, channel = (int(v) for v in bad[0])
    return (f"the model produced {len(bad)} values that are not finite numbers (first: take {take}, frame {frame}, "
            f"{arkit.CHANNELS[channel]} = {takes[take, frame, channel]}); nothing was kept. The checkpoint or the "
            "device may be faulty: try --device cpu, or another checkpoint")
