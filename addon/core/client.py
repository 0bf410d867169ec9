"""The sidecar's HTTP client (urllib only), its discovery, and a locally started sidecar.

Where the sidecar is, first match wins:
1. ``MOUTHPIECE_URL`` (and ``MOUTHPIECE_TOKEN``) in the environment: pipeline scripts, farms;
2. the URL and token in the add-on preferences, when the animator chose "connect to a URL";
3. the state file a running ``mouthpiece serve`` wrote (see ``state_file_paths``);
4. a sidecar the add-on starts itself (``LocalSidecar``): the configured command, whose first
   JSON line on stdout, ``{"url": ..., "token": ...}``, says where it listens.

Every failure is a ``SidecarError`` whose message says what happened and what to do.
"""

from __future__ import annotations

import base64
import json
import math
import os
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

from . import arkit, performance

API = "/v1"
HEALTH_TIMEOUT_S = 3.0
REQUEST_TIMEOUT_S = 30.0


class SidecarError(Exception):
    """A sidecar problem, worded for the animator."""


class SidecarUnreachable(SidecarError):
    pass


class SidecarTimedOut(SidecarUnreachable):
    """It did not answer in time: it may be alive and busy, so starting another is wrong."""


class SidecarHTTPError(SidecarError):
    def __init__(self, message: str, status: int, field: str | None = None):
        super().__init__(message)
        self.status = status
        self.field = field


class JobFailed(SidecarError):
    pass


class JobCancelled(SidecarError):
    pass


@dataclass(frozen=True)
class Endpoint:
    url: str
    token: str | None
    source: str  # "environment", "preferences", "state file" or "started"


def endpoint_from_environment(environ: Mapping[str, str] | None = None) -> Endpoint | None:
    environ = os.environ if environ is None else environ
    url = environ.get("MOUTHPIECE_URL", "").strip()
    if not url:
        return None
    return Endpoint(url.rstrip("/"), environ.get("MOUTHPIECE_TOKEN") or None, "environment")


def state_file_paths(environ: Mapping[str, str] | None = None) -> list[Path]:
    """Where ``mouthpiece serve`` writes its state file (url, token, pid): ``--state-file`` is
    mirrored by ``MOUTHPIECE_STATE_FILE``; the default is ``$XDG_STATE_HOME/mouthpiece/sidecar.json``,
    else ``~/.local/state/mouthpiece/sidecar.json`` (docs/API.md)."""
    environ = os.environ if environ is None else environ
    paths = []
    if environ.get("MOUTHPIECE_STATE_FILE"):
        paths.append(Path(environ["MOUTHPIECE_STATE_FILE"]))
    base = environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    paths.append(Path(base) / "mouthpiece" / "sidecar.json")
    return paths


def endpoint_from_state_file(paths: Iterable[Path]) -> Endpoint | None:
    """The first state file naming a sidecar whose process is still alive."""
    for path in paths:
        try:
            state = json.loads(Path(path).read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(state, dict) or not state.get("url"):
            continue
        pid = state.get("pid")
        if isinstance(pid, int) and not _pid_alive(pid):
            continue  # left behind by a sidecar that died
        return Endpoint(str(state["url"]).rstrip("/"), state.get("token"), "state file")
    return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def discover(
    prefs_url: str = "",
    prefs_token: str = "",
    environ: Mapping[str, str] | None = None,
    state_paths: Iterable[Path] | None = None,
) -> Endpoint | None:
    """The sidecar to talk to, or None when one must be started."""
    found = endpoint_from_environment(environ)
    if found:
        return found
    if prefs_url.strip():
        return Endpoint(prefs_url.strip().rstrip("/"), prefs_token or None, "preferences")
    return endpoint_from_state_file(state_file_paths(environ) if state_paths is None else state_paths)


class SidecarClient:
    """Blocking calls to one sidecar; each call has its own short timeout."""

    def __init__(self, endpoint: Endpoint, timeout: float = REQUEST_TIMEOUT_S):
        self.endpoint = endpoint
        self.timeout = timeout

    def _call(self, method: str, path: str, body: dict | None = None, timeout: float | None = None):
        url = self.endpoint.url + path
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.endpoint.token:
            request.add_header("Authorization", f"Bearer {self.endpoint.token}")
        where = f"the Mouthpiece sidecar at {self.endpoint.url} ({self.endpoint.source})"
        try:
            with urllib.request.urlopen(request, timeout=timeout or self.timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise _http_error(exc, where) from None
        except urllib.error.URLError as exc:
            reason = exc.reason
            if isinstance(reason, TimeoutError) or "timed out" in str(reason):
                raise SidecarTimedOut(f"{where} did not answer in time ({method} {path})") from None
            raise SidecarUnreachable(
                f"Cannot reach {where}: {reason}. Start the sidecar (panel: Start) or fix its URL."
            ) from None
        except TimeoutError:
            raise SidecarTimedOut(f"{where} did not answer in time ({method} {path})") from None
        except OSError as exc:
            raise SidecarUnreachable(f"Cannot reach {where}: {exc}") from None
        if not raw:
            return {}
        try:
            return json.loads(raw, parse_constant=_refuse_non_finite)
        except _NonFinite:
            raise SidecarError(f"{where} sent NaN or infinity ({method} {path}); no curve was written") from None
        except ValueError:
            raise SidecarError(f"{where} sent a reply that is not JSON ({method} {path})") from None

    def health(self) -> dict:
        return self._call("GET", f"{API}/health", timeout=HEALTH_TIMEOUT_S)

    def submit(self, request: dict) -> dict:
        """POST a job; the reply holds its ``id``."""
        reply = self._call("POST", f"{API}/jobs", request)
        if "id" not in reply:
            raise SidecarError("the sidecar accepted the job but sent no job id")
        return reply

    def status(self, job_id: str) -> dict:
        return self._call("GET", f"{API}/jobs/{job_id}")

    def infer_style(self, curves: Mapping[str, Sequence[float]], fps: float) -> dict:
        """POST /v1/style ("Match Style"): the performance style the curves were performed in.

        ``curves`` maps ARKit channel (any spelling) -> one value per frame at ``fps``; channels
        left out count as 0. Returns the style as ``build_job_request(style=...)`` takes it:
        the six controls, ``emotion`` and ``intensity``.
        """
        try:
            reply = self._call("POST", f"{API}/style", build_style_request(curves, fps))
        except SidecarHTTPError as exc:
            if exc.status in (404, 405):
                raise SidecarError(f"{exc} (this sidecar cannot infer a style: update Mouthpiece)") from None
            raise
        return parse_style(reply)

    def result(self, job_id: str) -> dict:
        return self._call("GET", f"{API}/jobs/{job_id}/result")

    def cancel(self, job_id: str) -> None:
        try:
            self._call("DELETE", f"{API}/jobs/{job_id}", timeout=HEALTH_TIMEOUT_S)
        except SidecarHTTPError as exc:
            if exc.status not in (404, 409):  # already gone or already finished
                raise

    def wait(
        self,
        job_id: str,
        poll_interval: float = 0.25,
        on_progress: Callable[[float, str], None] | None = None,
        cancel_requested: Callable[[], bool] | None = None,
    ) -> dict:
        """Poll until the job ends; its result, or JobFailed / JobCancelled."""
        while True:
            if cancel_requested is not None and cancel_requested():
                self.cancel(job_id)
                raise JobCancelled("cancelled")
            state = self.status(job_id)
            if on_progress is not None:
                on_progress(float(state.get("progress", 0.0)), str(state.get("stage", "")))
            finished = check_finished(state)
            if finished:
                result = self.result(job_id)
                try:
                    self.cancel(job_id)  # DELETE of a finished job frees its result on the sidecar
                except SidecarError:
                    pass
                return result
            time.sleep(poll_interval)


class _NonFinite(ValueError):
    pass


def _refuse_non_finite(name: str):
    """json.loads calls this for NaN, Infinity and -Infinity, which are not JSON and no curve value."""
    raise _NonFinite(name)


def check_finished(state: dict) -> bool:
    """True when a job status says done; raise for failed or cancelled; False while it runs."""
    status = state.get("status")
    if status == "done":
        return True
    if status == "failed":
        raise JobFailed(f"The sidecar could not generate: {state.get('error') or 'no reason given'}")
    if status == "cancelled":
        raise JobCancelled("The job was cancelled")
    return False


def _http_error(exc: urllib.error.HTTPError, where: str) -> SidecarHTTPError:
    detail, field = "", None
    try:
        body = json.loads(exc.read() or b"{}")
        detail = body.get("error") or body.get("detail") or ""
        field = body.get("field")
    except (ValueError, AttributeError, OSError):
        pass
    if exc.code == 401:
        message = f"{where} refused the token (401). Set the token in the preferences or MOUTHPIECE_TOKEN."
    elif exc.code == 503:
        message = f"{where} is busy or not ready (503): {detail or 'try again shortly'}"
    else:
        message = f"{where} answered {exc.code}: {detail or exc.reason}"
    return SidecarHTTPError(message, exc.code, field)


# -- building requests and reading results ------------------------------------------------------


def build_job_request(
    audio: bytes,
    fps: float,
    *,
    samples: int = 1,
    seed: int | None = None,
    steps: int | None = None,
    guidance: float | None = None,
    lip_closure: float | None = None,
    keys: Sequence[tuple[int, str, float]] = (),
    existing: Mapping[str, Sequence[float]] | None = None,
    regenerate: tuple[int, int] | None = None,
    regenerate_channels: Sequence[str] | None = None,
    offset: float = 0.0,
    style: Mapping[str, float | str] | None = None,
    style_guidance: float | None = None,
    language: str = "auto",
    transcript: str | None = None,
) -> dict:
    """The POST /v1/jobs body. Frames are 0-based at ``fps``; frame 0 is audio time 0.

    ``existing`` maps channel -> one value per frame; channels it lacks are sent as zeros
    (the API wants all 52 columns, and only the mapped ones are ever written back).
    ``regenerate_channels``: the channels regenerated in ``regenerate`` (None: all); the others
    keep ``existing`` on every frame. ``offset``: frames by which the mouth leads the audio.
    ``style``: any of STYLE_KEYS (the others are drawn per take); ``style_guidance``: guidance on
    the style (None: the model's default); ``language``: "auto" or a code such as "en";
    ``transcript``: what is said, when known (places the lip closures).
    """
    body: dict = {
        "audio": base64.b64encode(audio).decode("ascii"),
        "fps": float(fps),
        "samples": int(samples),
        "seed": seed,
        "steps": steps,
        "guidance": guidance,
        "lip_closure": None if lip_closure is None else min(1.0, max(0.0, float(lip_closure))),
        "keys": [
            {"frame": int(f), "channel": c, "value": min(1.0, max(0.0, float(v)))} for f, c, v in keys
        ],
        "existing": None,
        "regenerate": None,
        "offset": float(offset),
    }
    # Each is sent only when it says something, so a request that uses none of them reads as before.
    style_body = _style_body(style)
    if style_body:
        body["style"] = style_body
    if style_guidance is not None:
        body["style_guidance"] = float(style_guidance)
    if language and language.strip().lower() != "auto":
        body["language"] = language.strip().lower()
    if transcript and transcript.strip():
        body["transcript"] = transcript.strip()
    if existing is not None:
        channels, frames = existing_frames(existing)
        body["existing"] = {"channels": channels, "frames": frames}
    if regenerate is not None:
        start, end = regenerate
        body["regenerate"] = {"start": int(start), "end": int(end)}
        if regenerate_channels is not None:
            body["regenerate"]["channels"] = list(regenerate_channels)
    return body


def existing_frames(existing: Mapping[str, Sequence[float]]) -> tuple[list[str], list[list[float]]]:
    """(the 52 channel names, one row per frame) of per-channel curves; channels it lacks are zeros."""
    lengths = {len(v) for v in existing.values()}
    if len(lengths) != 1:
        raise ValueError("existing curves differ in length")
    (length,) = lengths
    columns = [existing.get(name) for name in arkit.CHANNELS]
    frames = [[min(1.0, max(0.0, float(col[t]))) if col is not None else 0.0 for col in columns]
              for t in range(length)]
    return list(arkit.CHANNELS), frames


# The style's keys live in addon.core.performance (checked against the sidecar's by a test).
STYLE_CONTROLS, STYLE_KEYS, EMOTIONS = performance.CONTROLS, performance.KEYS, performance.EMOTIONS


def _style_body(style: Mapping[str, float | str] | None) -> dict | None:
    """A style for a job: the keys given (the sidecar checks the ranges); None when empty."""
    if not style:
        return None
    body: dict = {}
    for key, value in style.items():
        if key not in STYLE_KEYS:
            raise ValueError(f"style: unknown key {key!r}; the keys are {', '.join(STYLE_KEYS)}")
        if value is None:
            continue
        body[key] = str(value) if key == "emotion" else float(value)
    if body.get("emotion") == "neutral":
        body.pop("intensity", None)  # neutral has no intensity (the sidecar refuses one above 0)
    return body or None


def build_style_request(curves: Mapping[str, Sequence[float]], fps: float) -> dict:
    """The POST /v1/style body: the channels given, one row per frame (values clamped to [0, 1])."""
    names = [name for name in curves]
    if not names:
        raise ValueError("infer_style: no curves given")
    lengths = {len(curves[n]) for n in names}
    if len(lengths) != 1:
        raise ValueError("infer_style: the curves differ in length")
    (length,) = lengths
    columns = [curves[n] for n in names]
    return {"fps": float(fps), "channels": [arkit.canonical_name(n) or n for n in names],
            "frames": [[min(1.0, max(0.0, float(col[t]))) for col in columns] for t in range(length)]}


def parse_style(value) -> dict | None:
    """A style from the sidecar (a take's or /v1/style's) -> {key: value} with every STYLE_KEY, or None."""
    if value is None:
        return None
    try:
        style = {k: float(value[k]) for k in STYLE_CONTROLS}
        style["emotion"] = str(value["emotion"])
        style["intensity"] = float(value["intensity"])
    except (KeyError, TypeError, ValueError) as exc:
        raise SidecarError(f"the sidecar sent a malformed style ({exc!r})") from None
    if not all(math.isfinite(style[k]) for k in STYLE_CONTROLS + ("intensity",)):
        raise SidecarError("the sidecar sent a style value that is not a finite number")
    return style


@dataclass
class Take:
    seed: int
    curves: dict[str, list[float]]  # channel -> one value per frame at the result's fps
    style: dict | None = None  # the style it was drawn with (STYLE_KEYS); None: the model has no style input


def parse_result(result: Mapping) -> tuple[float, list[Take]]:
    """The result body -> (fps, takes with curves by canonical channel name)."""
    try:
        fps = float(result["fps"])
        channels = [arkit.canonical_name(c) or c for c in result["channels"]]
        takes = []
        for take in result["takes"]:
            rows = take["frames"]
            curves = {c: [float(row[i]) for row in rows] for i, c in enumerate(channels)}
            takes.append(Take(seed=int(take["seed"]), curves=curves, style=parse_style(take.get("style"))))
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise SidecarError(f"the sidecar's result is malformed ({exc!r})") from None
    for take in takes:
        for channel, values in take.curves.items():
            if not all(math.isfinite(v) for v in values):
                raise SidecarError(f"the sidecar's result holds a value that is not a finite number "
                                   f"({channel}, take seed {take.seed}); no curve was written")
    if not takes:
        raise SidecarError("the sidecar's result holds no takes")
    return fps, takes


# -- a sidecar started by the add-on ----------------------------------------------------------

LOG_NAME = "sidecar.log"
TOKEN_SHOWN_AS = "<hidden: see the state file>"


def private_log_path() -> Path:
    """A fresh log path in a folder only this user can enter (mode 0700, unpredictable name):
    another local user can neither read the log nor plant a file or link where it will go."""
    return Path(tempfile.mkdtemp(prefix="mouthpiece-sidecar-")) / LOG_NAME


def open_private_log(path: str | os.PathLike) -> int:
    """A new file, mode 0600 from its first byte; never an existing file, never through a link."""
    flags = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND
             | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))  # Windows has neither
    try:
        return os.open(path, flags, 0o600)
    except FileExistsError:
        raise SidecarError(f"the sidecar's log {path} exists already; it is never reused or written through "
                           "(a file or link left there by someone else); remove it or choose another") from None
    except OSError as exc:
        raise SidecarError(f"cannot create the sidecar's log {path}: {exc.strerror or exc}") from None


def _hide_token(line: str, token: str | None) -> str:
    """The line as it may be logged: the startup line's token, and the token anywhere, hidden."""
    if line.startswith("{"):
        try:
            info = json.loads(line)
        except ValueError:
            info = None
        if isinstance(info, dict) and "token" in info:
            token = token or (str(info["token"]) if info["token"] else None)
            line = json.dumps({**info, "token": TOKEN_SHOWN_AS})
    return line.replace(token, TOKEN_SHOWN_AS) if token else line



def serve_command(python: str, checkpoint: str = "", device: str = "") -> list[str]:
    """The command that starts the sidecar with ``python`` on a free loopback port."""
    command = [python, "-m", "server", "serve", "--port", "0"]
    if checkpoint:
        command += ["--checkpoint", checkpoint]
    if device:
        command += ["--device", device]
    return command


class LocalSidecar:
    """A sidecar process this add-on started; it prints ``{"url", "token", ...}`` when ready."""

    def __init__(self, command: Sequence[str], cwd: str | None = None, env: Mapping[str, str] | None = None,
                 log_path: str | os.PathLike | None = None):
        if not command:
            raise SidecarError("no sidecar command configured (add-on preferences: Python or command)")
        self.command = list(command)
        self.cwd = cwd or None
        self.env = dict(os.environ if env is None else env)
        self.log_path = Path(log_path) if log_path else None
        self.process: subprocess.Popen | None = None
        self.ready_info: dict | None = None
        self.startup_error: str | None = None
        self._tail: deque[str] = deque(maxlen=40)
        self._ready = threading.Event()
        self._reader: threading.Thread | None = None
        self._log = None  # the log file, created once by the first start()
        self._log_lock = threading.Lock()
        self.started_at = 0.0

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        if self.running:
            return
        if self.log_path and self._log is None:
            # One descriptor for the whole run: the path is never opened again, so nothing put
            # there later is written through.
            self._log = os.fdopen(open_private_log(self.log_path), "a", encoding="utf-8")
        try:
            self.process = subprocess.Popen(
                self.command, cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT if self._log is None else self._log,
                start_new_session=True,  # a Ctrl-C in Blender's terminal must not kill it mid-job
            )
        except OSError as exc:
            raise SidecarError(f"Could not start the sidecar ({' '.join(self.command)}): {exc}") from None
        self.started_at = time.monotonic()
        self._reader = threading.Thread(target=self._read_stdout, name="mouthpiece-sidecar-stdout", daemon=True)
        self._reader.start()

    def _read_stdout(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        try:
            self._consume(self.process.stdout)
        except (OSError, ValueError):
            pass  # stdout closed by stop()
        self._ready.set()  # stdout closed: the process is ending

    def _consume(self, stdout) -> None:
        for raw in stdout:
            line = raw.decode("utf-8", "replace").rstrip()
            token = self.ready_info.get("token") if self.ready_info else None
            shown = _hide_token(line, token)
            self._tail.append(shown)
            with self._log_lock:
                if self._log is not None:
                    self._log.write(shown + "\n")
                    self._log.flush()
            if self.ready_info is None and line.startswith("{"):
                try:
                    info = json.loads(line)
                except ValueError:
                    continue
                if isinstance(info, dict) and info.get("url"):
                    self.ready_info = info
                    self._ready.set()
                elif isinstance(info, dict) and info.get("error"):
                    self.startup_error = str(info["error"])  # the sidecar's own reason it cannot start
                    self._ready.set()

    def poll_ready(self) -> Endpoint | None:
        """The endpoint once the sidecar reported ready; None while starting; raises if it died."""
        if self.ready_info is not None:
            return Endpoint(str(self.ready_info["url"]).rstrip("/"), self.ready_info.get("token"), "started")
        if self.process is None:
            raise SidecarError("the sidecar was not started")
        if self.startup_error is not None:
            raise SidecarError(f"The sidecar could not start: {self.startup_error}")
        code = self.process.poll()
        if code is not None or (self._ready.is_set() and self.ready_info is None):
            if self._reader is not None:
                self._reader.join(timeout=1.0)
            if code is None:  # stdout closed a moment before the process is reaped
                try:
                    code = self.process.wait(5.0)
                except subprocess.TimeoutExpired:
                    pass
            raise SidecarError(
                f"The sidecar exited (code {code}) before it was ready. Command: {' '.join(self.command)}"
                + self.log_hint()
            )
        return None

    def wait_ready(self, timeout: float) -> Endpoint:
        deadline = time.monotonic() + timeout
        while True:
            found = self.poll_ready()
            if found:
                return found
            if time.monotonic() > deadline:
                raise SidecarError(
                    f"The sidecar did not report ready within {timeout:.0f} s. Command: {' '.join(self.command)}"
                    + self.log_hint()
                )
            self._ready.wait(0.1)

    def log_hint(self) -> str:
        tail = [line for line in self._tail if line.strip()][-3:]
        if self.log_path and self.log_path.exists():
            try:
                lines = self.log_path.read_text(errors="replace").splitlines()
                tail = [line for line in lines if line.strip()][-3:]
            except OSError:
                pass
        text = f" Last output: {' | '.join(tail)}" if tail else ""
        if self.log_path:
            text += f" (log: {self.log_path})"
        return text

    def stop(self, timeout: float = 5.0) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.process = None
        # The log stays open: a restart appends to the file this object created, never to
        # whatever may have been put at its path since.
