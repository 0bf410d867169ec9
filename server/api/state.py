"""The state file: where a running sidecar tells other local processes its URL and token."""

from __future__ import annotations

import json
import os
import tempfile
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
