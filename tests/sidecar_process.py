"""Test helpers for the sidecar: a real `python -m server serve` process on a free loopback
port, a bearer-token HTTP client for it, and speech audio to send."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
# Generous guards so a broken server fails the test instead of hanging it; never a speed check.
STARTUP_GUARD_S = 120.0
JOB_GUARD_S = 300.0


@dataclass
class Sidecar:
    process: subprocess.Popen
    url: str
    token: str
    state_file: Path
    startup: dict

    @property
    def auth(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"}

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.auth, timeout=60.0, **kwargs)

    def stop(self, sig=signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(STARTUP_GUARD_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"the sidecar did not exit within {STARTUP_GUARD_S:.0f} s of {sig!r}") from None

    def stderr(self) -> str:
        return self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""


def start_sidecar(checkpoint, state_dir: Path, *extra: str, env: dict | None = None, repo: Path = REPO) -> Sidecar:
    """Start the server (the code in ``repo``) and wait for its one startup line on stdout."""
    state_file = Path(state_dir) / "sidecar.json"
    command = [sys.executable, "-m", "server", "serve", "--port", "0", "--checkpoint", str(checkpoint),
               "--threads", "1", "--state-file", str(state_file), *extra]
    process = subprocess.Popen(command, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env={**os.environ, **(env or {})})
    line = _read_line(process)
    startup = json.loads(line) if line else {}
    if "url" not in startup:
        process.kill()
        process.wait()
        raise AssertionError(f"the sidecar did not start: stdout {line!r}, "
                             f"stderr {process.stderr.read().decode(errors='replace')[-3000:]}")
    return Sidecar(process, startup["url"], startup["token"], state_file, startup)


def sidecar_fixture(*extra: str, env: dict | None = None):
    """A module-scoped fixture: one sidecar, started with ``extra`` arguments, for a test module."""

    @pytest.fixture(scope="module")
    def sidecar(tiny_checkpoint, tmp_path_factory):
        server = start_sidecar(tiny_checkpoint, tmp_path_factory.mktemp("state"), *extra, env=env)
        yield server
        assert server.stop() == 0

    return sidecar


@pytest.fixture(scope="module")
def client(sidecar):
    with sidecar.client() as c:
        yield c


@pytest.fixture(scope="module")
def one_second() -> str:
    return b64(speech_clip(1.0))


@pytest.fixture(scope="module")
def minute() -> str:
    return b64(speech_clip(60.0))


def _read_line(process: subprocess.Popen) -> str:
    import selectors

    with selectors.DefaultSelector() as sel:
        sel.register(process.stdout, selectors.EVENT_READ)
        if not sel.select(STARTUP_GUARD_S):
            return ""
    return process.stdout.readline().decode()


def run_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "server", "serve", *args], cwd=REPO, capture_output=True,
                          timeout=STARTUP_GUARD_S, env={**os.environ, **(env or {})})


def speech_clip(seconds: float) -> bytes:
    """A WAV of English speech (espeak-ng) trimmed or repeated to ``seconds``."""
    text = "the quick brown fox jumps over the lazy dog and then runs all the way back home"
    if shutil.which("espeak-ng"):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "speech.wav")
            subprocess.run(["espeak-ng", "-w", path, text], check=True, capture_output=True)
            samples, rate = sf.read(path, dtype="float32")
    else:  # a voiced, syllable-modulated signal: still real audio through the real decoder
        rate = 16000
        t = np.arange(int(5 * rate)) / rate
        voice = sum(np.sin(2 * np.pi * 120 * k * t) / k for k in range(1, 12))
        samples = (0.3 * voice * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t))).astype(np.float32)
    n = int(round(seconds * rate))
    samples = np.tile(samples, int(np.ceil(n / len(samples))))[:n]
    out = io.BytesIO()
    sf.write(out, samples, rate, format="WAV", subtype="PCM_16")
    return out.getvalue()


def encode_audio(samples: np.ndarray, rate: int, fmt: str, subtype: str | None = None) -> bytes:
    """A sound file's bytes; written a second at a time (libsndfile's Vorbis encoder crashes on
    one huge write of many channels)."""
    out = io.BytesIO()
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    with sf.SoundFile(out, "w", rate, channels, format=fmt, subtype=subtype) as f:
        for start in range(0, len(samples), rate):
            f.write(samples[start:start + rate])
    return out.getvalue()


def reset_peak_memory(pid: int) -> None:
    """Make the process's peak resident memory (VmHWM) its current one (Linux)."""
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")


def memory_mib(pid: int, field: str = "VmHWM") -> float:
    """VmHWM (peak resident memory) or VmRSS of a process, in MiB (Linux)."""
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise ValueError(f"no {field} for process {pid}")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def wait_for(client: httpx.Client, job_id: str, statuses=("done", "failed", "cancelled")) -> dict:
    deadline = time.monotonic() + JOB_GUARD_S
    while time.monotonic() < deadline:
        status = client.get(f"/v1/jobs/{job_id}").json()
        if status["status"] in statuses:
            return status
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} did not reach {statuses} within {JOB_GUARD_S:.0f} s: {status}")
