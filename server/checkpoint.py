"""Checkpoints: a directory with ``model.safetensors`` (weights) and ``config.json``.

The config names the architecture, frame rate, channel list, feature settings, sampling
defaults, the training data summary and a format version; loading checks each against
this code and says what is wrong when they disagree.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from addon.core.arkit import CHANNELS
from server.errors import CheckpointError
from server.model import MouthpieceModel

FORMAT = "mouthpiece.checkpoint"
FORMAT_VERSION = 1
WEIGHTS = "model.safetensors"
CONFIG = "config.json"
DEFAULT_CHECKPOINT = Path(__file__).resolve().parent / "models" / "default"
TRAIN_HINT = ("train one with `scripts/train` (see docs/TRAINING.md) and pass it with --checkpoint, "
              "or reinstall Mouthpiece to get the shipped default model")


def save_checkpoint(path, model: MouthpieceModel, *, name: str, fps: float, defaults: dict,
                    training: dict | None = None, state_dict: dict | None = None) -> Path:
    from safetensors.torch import save_file

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    config = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "name": name, "fps": fps,
        "channels": list(CHANNELS), "features": model.encoder.config(), "denoiser": model.denoiser.config(),
        "diffusion": {"schedule": "cosine", "train_steps": 1000, "prediction": "x0"},
        "defaults": defaults, "training": training or {},
    }
    if model.closure_detector is not None:
        config["closure_detector"] = model.closure_detector.config()
    weights = {k: v.detach().contiguous().cpu() for k, v in (state_dict or model.state_dict()).items()
               if not k.startswith("encoder.speech.")}  # a frozen local speech model is referenced, not copied
    tmp = path / (WEIGHTS + ".tmp")
    save_file(weights, str(tmp))
    os.replace(tmp, path / WEIGHTS)
    (path / (CONFIG + ".tmp")).write_text(json.dumps(config, indent=2))
    os.replace(path / (CONFIG + ".tmp"), path / CONFIG)
    return path


def read_config(path) -> tuple[Path, dict]:
    path = Path(path)
    if path.is_file() and path.name in (CONFIG, WEIGHTS):
        path = path.parent
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist; {TRAIN_HINT}")
    cfg_file = path / CONFIG
    if not cfg_file.is_file() or not (path / WEIGHTS).is_file():
        raise CheckpointError(f"checkpoint {path} is incomplete: it needs {CONFIG} and {WEIGHTS}; {TRAIN_HINT}")
    try:
        config = json.loads(cfg_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"checkpoint {path}: {CONFIG} is corrupt ({e})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {path}: {CONFIG} is not a Mouthpiece checkpoint config")
    version = config.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(f"checkpoint {path} has format version {version}; this Mouthpiece reads "
                              f"version {FORMAT_VERSION}. Retrain it or use a matching Mouthpiece release")
    if config.get("channels") != list(CHANNELS):
        raise CheckpointError(f"checkpoint {path} was trained on a different channel list than the 52 ARKit "
                              "channels in Apple's order; it cannot be used")
    for key in ("fps", "features", "denoiser", "defaults"):
        if key not in config:
            raise CheckpointError(f"checkpoint {path}: {CONFIG} lacks {key!r}")
    return path, config


def load_checkpoint(path=None, device: str = "cpu") -> tuple[MouthpieceModel, dict]:
    """Load a checkpoint (None: the shipped default model) -> (model in eval mode, config)."""
    if path is None:
        if not (DEFAULT_CHECKPOINT / CONFIG).is_file():
            raise CheckpointError(f"no model is installed (looked in {DEFAULT_CHECKPOINT}); {TRAIN_HINT}")
        path = DEFAULT_CHECKPOINT
    path, config = read_config(path)
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        model = MouthpieceModel.from_config(config["features"], config["denoiser"], config.get("closure_detector"))
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"checkpoint {path}: its architecture is not one this code builds ({e})") from None
    try:
        weights = load_file(str(path / WEIGHTS))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"checkpoint {path}: {WEIGHTS} is corrupt ({e})") from None
    try:
        missing, unexpected = model.load_state_dict(weights, strict=False)
    except RuntimeError as e:  # shape mismatches
        raise CheckpointError(f"checkpoint {path}: weights do not match its config ({str(e)[:300]})") from None
    missing = [k for k in missing if not k.startswith("encoder.speech.")]
    if missing or unexpected:
        raise CheckpointError(f"checkpoint {path}: weights do not match its config "
                              f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    model.eval().requires_grad_(False)
    return model.to(device), config
