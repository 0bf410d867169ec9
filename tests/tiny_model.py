"""A tiny trained model for tests: a real corpus (espeak-ng), the real teacher, real training.

``tiny_checkpoint()`` trains it once into a cache directory keyed by the code that shapes it
and returns the checkpoint path. Run as ``python -m tests.tiny_model`` it prints that path
(the Blender test suites, which run in Blender's Python, call it this way).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "server" / "training" / "configs" / "tiny.toml"
# The code a tiny model depends on; any change to it trains a fresh one.
_SOURCES = ["server/training", "server/model", "server/features", "server/diffusion", "server/teacher",
            "server/corpus", "server/checkpoint.py", "server/audio.py"]


def _fingerprint() -> str:
    h = hashlib.sha1()
    for rel in _SOURCES:
        p = ROOT / rel
        files = sorted(p.rglob("*.py")) + sorted(p.rglob("*.toml")) + sorted(p.rglob("*.json")) if p.is_dir() else [p]
        for f in files:
            h.update(str(f.relative_to(ROOT)).encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:12]


def cache_root() -> Path:
    return Path(os.environ.get("MOUTHPIECE_TEST_CACHE", ROOT / ".cache" / "tests"))


def tiny_corpus() -> Path:
    """A tiny corpus in the real layout (espeak-ng speech), built once."""
    from server.corpus.build import build_tiny

    out = cache_root() / f"corpus-{_fingerprint()}"
    if not (out / "corpus.json").is_file():
        build_tiny(str(out), n_items=24, seed=0)
    return out


def tiny_checkpoint() -> Path:
    from server.training.config import load_config
    from server.training.train import train

    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    run = root / f"tiny-{_fingerprint()}"
    model = run / "model"
    with open(root / "tiny.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel test processes train it once
        if not (model / "config.json").is_file():
            corpus = tiny_corpus()
            cfg = load_config(CONFIG, {"data": {"corpus": str(corpus), "cache": str(run / "cache")}})
            train(cfg, run, quiet=True)
    return model


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    print(tiny_checkpoint())
