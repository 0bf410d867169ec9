"""The state file: where a running sidecar tells other local processes its URL and token."""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path


STATE_FILE_ENV = "MOUTHPIECE_STATE_FILE"


def default_state_file() -> Path:
    """``$MOUTHPIECE_STATE_FILE``, else ``$XDG_STATE_HOME/mouthpiece/sidecar.json``, else
    ``~/.local/state/mouthpiece/sidecar.json`` (the add-on's client looks in the same places)."""
    if os.environ.get(STATE_FILE_ENV):
        return Path(os.environ[STATE_FILE_ENV])
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(base) / "mouthpiece" / "sidecar.json"


def write_state(path: Path, payload: dict) -> None:
    """Write atomically with mode 0600 from the first byte: the file holds the token."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".sidecar-", suffix=".tmp")  # mkstemp creates 0600
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(payload, f)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def remove_state(path: Path, pid: int) -> None:
    """Remove the state file if it still describes this process (a newer sidecar may own it now)."""
    try:
        with open(path) as f:
            if json.load(f).get("pid") != pid:
                return
        os.unlink(path)
    except (OSError, ValueError, AttributeError):
        pass


# How often a running sidecar checks that the state file still tells the truth.
STATE_CHECK_INTERVAL_S = 1.0


def _pid_alive(pid) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # alive, owned by someone else
    return True


class StateKeeper:
    """Keeps the state file true while this sidecar runs.

    Two sidecars may share one path: the newer one's file wins while it runs. When it stops it
    removes the file (or, if it died, leaves one naming a dead process), and the older one,
    still serving, would be lost to every client. So each sidecar checks the file every
    STATE_CHECK_INTERVAL_S and writes itself back when the file is gone, unreadable, or names a
    process that is no longer alive; a file naming another live sidecar is left alone.
    """

    def __init__(self, path: Path, payload: dict, interval_s: float = STATE_CHECK_INTERVAL_S):
        self.path = path
        self.payload = dict(payload)
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mouthpiece-state-file", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(self.interval_s + 5.0)

    def check(self) -> bool:
        """Rewrite the file if it no longer names a live sidecar; True when it was rewritten."""
        try:
            with open(self.path) as f:
                current = json.load(f)
        except (OSError, ValueError):
            current = None
        if isinstance(current, dict):
            if current == self.payload:
                return False
            if current.get("pid") != self.payload["pid"] and _pid_alive(current.get("pid")):
                return False  # a newer sidecar owns it now
        write_state(self.path, self.payload)
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.check()
            except OSError:
                pass  # a full disk or a removed folder; the next check tries again
