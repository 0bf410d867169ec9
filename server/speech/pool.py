"""A small pool of speech helper processes (server/speech/helper.py).

pocketsphinx holds Python's GIL for a whole decode (measured: the main thread stalled 6.4 s
while a 19 s segment decoded in a worker thread), which would freeze the sidecar's HTTP loop:
no progress, no cancel, keep-alive connections reset. So word recognition and transcript
alignment run in helper processes and this process only waits on their pipes. The pool holds
up to ``size()`` of them (MOUTHPIECE_SPEECH_PROCESSES, default os.cpu_count()), each started on
first need and kept; a helper that died (killed, out of memory) is replaced once per request,
and where none can run at all the request is computed in this process.

``map`` decodes a clip's segments in parallel, one per idle helper. Each request's answer is a
function of the request alone (the recogniser resets its decoder before every segment), so the
result is the same whichever helper decodes which segment, in whatever order: identical to a
sequential decode.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
import threading
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path

from server.speech.protocol import read_message, write_message

_ROOT = Path(__file__).resolve().parents[2]
_ENV_SIZE = "MOUTHPIECE_SPEECH_PROCESSES"


def size() -> int:
    """How many helper processes the pool may hold: MOUTHPIECE_SPEECH_PROCESSES, else the cores."""
    value = os.environ.get(_ENV_SIZE, "").strip()
    if value:
        try:
            return max(1, int(value))
        except ValueError:
            raise ValueError(f"{_ENV_SIZE}={value!r}: give a whole number of processes (1 or more)") from None
    return max(1, os.cpu_count() or 1)


class Helper:
    """One helper process; used by one request at a time."""

    def __init__(self):
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(_ROOT), os.environ.get("PYTHONPATH")])))
        self.process = subprocess.Popen([sys.executable, "-m", "server.speech.helper"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, cwd=_ROOT, env=env)

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def call(self, request):
        """The helper's answer, or None if it died on the way."""
        try:
            write_message(self.process.stdin, request)
            return read_message(self.process.stdout)
        except (OSError, ValueError):
            return None

    def stop(self) -> None:
        try:
            self.process.stdin.close()       # end of input ends it
        except OSError:
            pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class HelperPool:
    def __init__(self):
        self._lock = threading.Condition()
        self._idle: list[Helper] = []
        self._all: list[Helper] = []
        self._executor: ThreadPoolExecutor | None = None
        self._in_process = threading.Lock()  # the fallback's decoders are not thread-safe

    def helpers(self) -> list[Helper]:
        """The live helper processes (for tests and the benchmark's memory figure)."""
        with self._lock:
            return [h for h in self._all if h.alive()]

    def _acquire(self) -> Helper:
        with self._lock:
            while True:
                while self._idle:
                    helper = self._idle.pop()
                    if helper.alive():
                        return helper
                    self._all.remove(helper)
                if len(self._all) < size():
                    helper = Helper()
                    self._all.append(helper)
                    return helper
                self._lock.wait()

    def _release(self, helper: Helper, keep: bool) -> None:
        with self._lock:
            if keep and helper.alive():
                self._idle.append(helper)
            elif helper in self._all:
                self._all.remove(helper)
            self._lock.notify()
        if not keep:
            helper.stop()

    def call(self, request, fallback):
        """The answer's value for ``request``; ``fallback(*request[1:])`` here if no helper can run."""
        for _attempt in range(2):            # a helper that died is replaced once
            try:
                helper = self._acquire()
            except OSError:
                break
            answer = helper.call(request)
            self._release(helper, keep=answer is not None)
            if answer is not None:
                status, value = answer
                if status == "ok":
                    return value
                if status == "raise":
                    raise value
                raise RuntimeError(f"speech helper failed: {value}")
        with self._in_process:
            return fallback(*request[1:])

    def map(self, requests, fallback, *, cancel: threading.Event | None = None, done=None) -> list:
        """``call`` on every request, as many at once as the pool has helpers; answers in order.

        ``done()`` is called (in this thread) after each answer; ``cancel`` is checked while
        waiting (raising server.errors.GenerationCancelled; decodes under way finish unseen).
        """
        from server.errors import GenerationCancelled

        requests = list(requests)
        if len(requests) <= 1 or size() == 1:
            out = []
            for request in requests:
                if cancel is not None and cancel.is_set():
                    raise GenerationCancelled("generation cancelled")
                out.append(self.call(request, fallback))
                if done is not None:
                    done()
            return out
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=size(), thread_name_prefix="speech-helper")
            executor = self._executor
        futures = [executor.submit(self.call, request, fallback) for request in requests]
        pending = set(futures)
        try:
            while pending:
                if cancel is not None and cancel.is_set():
                    raise GenerationCancelled("generation cancelled")
                finished, pending = wait(pending, timeout=0.1, return_when=FIRST_COMPLETED)
                for future in finished:
                    future.result()          # an error surfaces now
                    if done is not None:
                        done()
        finally:
            for future in pending:
                future.cancel()
        return [future.result() for future in futures]

    def stop(self) -> None:
        with self._lock:
            helpers, self._all, self._idle = self._all, [], []
            executor, self._executor = self._executor, None
        for helper in helpers:
            helper.stop()
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)


POOL = HelperPool()
atexit.register(POOL.stop)
