"""The sidecar connection: where it is, the process the add-on started, and the cached health
the panel draws (the panel never makes a network call itself)."""

from __future__ import annotations

import atexit
import threading
import time
from dataclasses import dataclass

from ...core import client
from ...core.client import Endpoint, LocalSidecar, SidecarClient, SidecarError
from ..prefs import ConnectionSettings


@dataclass
class Health:
    state: str = "unknown"   # unknown | starting | connected | down | error
    message: str = ""
    model: str = ""
    fps: float = 0.0
    device: str = ""
    version: str = ""
    url: str = ""
    source: str = ""
    checked: float = 0.0


def connection_mode(preference: str) -> str:
    """ENV (MOUTHPIECE_URL is set and overrides the preferences), else the preference: URL or START."""
    return "ENV" if client.endpoint_from_environment() is not None else preference


# What to do about a sidecar that does not answer, by where its address came from.
_UNREACHABLE_ADVICE = {
    "environment": "MOUTHPIECE_URL overrides the add-on preferences: start `mouthpiece serve` there, "
                   "or unset MOUTHPIECE_URL (and MOUTHPIECE_TOKEN).",
    "preferences": "Run `mouthpiece serve` there, or fix the URL and Token in the add-on preferences "
                   "(Connect to URL).",
    "state file": "Press Start to start one here (Generate also starts it).",
    "started": "Press Start to start it again (Generate also starts it).",
}
_CLIENT_ADVICE = " Start the sidecar (panel: Start) or fix its URL."  # addon.core.client's own, for any mode


def _unreachable(exc: client.SidecarUnreachable, source: str) -> client.SidecarUnreachable:
    """``exc`` with the advice that fits the connection mode (Start does nothing for a URL); the
    same class, so a sidecar that only timed out (SidecarTimedOut) is still told from a dead one."""
    text = str(exc).replace(_CLIENT_ADVICE, "").rstrip()
    advice = _UNREACHABLE_ADVICE.get(source, "")
    return type(exc)(f"{text} {advice}".rstrip())


def not_running_message(settings: ConnectionSettings) -> str:
    """The panel's line for Start Locally when no sidecar runs yet."""
    if not settings.command:
        return ("Not running. To start it here, set Python (or a Command) in the add-on preferences "
                "(Start Locally); for a sidecar that runs elsewhere choose Connect to URL.")
    return "Not running. Press Start to start it here (Generate also starts it)."


class Sidecar:
    """One per Blender session. Thread-safe: jobs connect from worker threads."""

    def __init__(self):
        self._lock = threading.RLock()
        self.local: LocalSidecar | None = None
        self.endpoint: Endpoint | None = None
        self.health = Health()

    def _set_health(self, **changes) -> None:
        with self._lock:
            for k, v in changes.items():
                setattr(self.health, k, v)
            self.health.checked = time.time()

    @property
    def started_here(self) -> bool:
        return self.local is not None and self.local.running

    def connect(self, settings: ConnectionSettings, start: bool = True, cancel_requested=None) -> SidecarClient:
        """A client for a sidecar that answers health, starting one if allowed and needed."""
        with self._lock:
            endpoint = None
            if settings.mode == "URL" or client.endpoint_from_environment():
                endpoint = client.discover(settings.url, settings.token)
            elif self.started_here:
                endpoint = self.local.poll_ready() or None
            if endpoint is None and settings.mode != "URL":
                endpoint = client.discover("", "")  # a `mouthpiece serve` already running
        if endpoint is not None:
            try:
                return self._check(endpoint)
            except client.SidecarUnreachable as exc:
                # A sidecar that is slow to answer is alive (busy): a second one would load
                # another model and compete for the machine, so only a dead one is replaced.
                if endpoint.source != "state file" or not start or isinstance(exc, client.SidecarTimedOut):
                    raise
                # A state file left by a sidecar that no longer answers: start our own.
        if settings.mode == "URL":
            message = ("No sidecar URL is set: fill in the URL in the add-on preferences (Connect to URL), "
                       "or set MOUTHPIECE_URL")
            self._set_health(state="down", message=message, url="", source="")
            raise SidecarError(message)
        if not start:
            message = not_running_message(settings)
            self._set_health(state="down", message=message, url="", source="")
            raise SidecarError(message)
        endpoint = self._start(settings, cancel_requested)
        return self._check(endpoint)

    def _start(self, settings: ConnectionSettings, cancel_requested=None) -> Endpoint:
        with self._lock:
            if not self.started_here:
                if not settings.command:
                    raise SidecarError(
                        "Cannot start the sidecar: set the Mouthpiece Python (or a command) in the add-on preferences")
                # A folder of its own (0700) for each start: the log is 0600 and nobody else can
                # read it or plant a file or link at its path in the shared temp folder.
                self.local = LocalSidecar(settings.command, cwd=settings.cwd or None,
                                          log_path=client.private_log_path())
                self.local.start()
            local = self.local
        self._set_health(state="starting", message="Loading the model...", url="", source="started")
        deadline = time.monotonic() + settings.startup_timeout
        try:
            while True:
                endpoint = local.poll_ready()
                if endpoint is not None:
                    return endpoint
                if cancel_requested is not None and cancel_requested():
                    raise client.JobCancelled("cancelled while the sidecar was starting")
                if time.monotonic() > deadline:
                    local.stop()
                    raise SidecarError(
                        f"The sidecar did not become ready within {settings.startup_timeout:.0f} s "
                        f"({settings.describe_command()}).{local.log_hint()}")
                time.sleep(0.1)
        except SidecarError as exc:
            if not isinstance(exc, client.JobCancelled):
                self._set_health(state="error", message=str(exc))
            raise

    def _check(self, endpoint: Endpoint) -> SidecarClient:
        c = SidecarClient(endpoint)
        try:
            info = c.health()
        except SidecarError as exc:
            if isinstance(exc, client.SidecarUnreachable):
                exc = _unreachable(exc, endpoint.source)
            self._set_health(state="down", message=str(exc), url=endpoint.url, source=endpoint.source)
            raise exc from None
        with self._lock:
            self.endpoint = endpoint
        self._set_health(state="connected", message="", model=str(info.get("model", "")),
                         fps=float(info.get("fps", 0.0) or 0.0), device=str(info.get("device", "")),
                         version=str(info.get("version", "")), url=endpoint.url, source=endpoint.source)
        return c

    def stop(self) -> bool:
        """Stop the sidecar this add-on started; False when there was none."""
        with self._lock:
            local, self.local = self.local, None
            if self.endpoint is not None and self.endpoint.source == "started":
                self.endpoint = None
        if local is None:
            return False
        local.stop()
        self._set_health(state="down", message="Stopped", url="", source="")
        return True


SIDECAR = Sidecar()
# Blender does not unregister add-ons when it quits; the sidecar it started (in its own session,
# so a Ctrl-C in Blender's terminal spares a running job) must still go with it.
atexit.register(SIDECAR.stop)
