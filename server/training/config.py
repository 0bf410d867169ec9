"""Training configuration: a TOML file over these defaults (every key optional)."""

from __future__ import annotations

import copy
import tomllib

DEFAULTS: dict = {
    "name": "mouthpiece",
    "fps": 30.0,
    "features": {"kind": "logmel", "n_mels": 80, "hop": 160, "hidden": 128, "out_dim": 128,
                 "dilations": [1, 2, 4, 8, 1, 2], "stride": 2},
    "denoiser": {"channels": 128, "dilations": [1, 2, 4, 8, 16, 1, 2, 4, 8, 16], "emb_dim": 128, "style_dim": 0},
    # A per-frame bilabial-closure head on the audio encoder (server/model/closure_detector.py);
    # an empty table: none.
    "closure_detector": {},
    # kind "corpus": the synthetic corpus with the teacher's curves; "livelink" or "blendvoca":
    # real capture paired with audio under `root` (see server/training/capture.py).
    "data": {"kind": "corpus", "corpus": "data/corpus", "root": "", "cache": "data/cache", "split": "train",
             "limit": 0},
    "train": {
        "batch": 16, "crop_seconds": 6.0, "lr": 1e-3, "lr_min": 1e-4, "warmup_steps": 200,
        "max_steps": 200000, "time_budget_minutes": 90.0, "ema_decay": 0.999, "seed": 0,
        "audio_drop": 0.1,          # classifier-free guidance: share of items trained without audio
        "noise_levels_per_crop": 2,  # one audio encoding serves several diffusion steps
        "weight_speech": 3.0,        # loss weight of jaw/mouth/tongue channels vs the rest
        "weight_velocity": 1.0,      # frame-to-frame differences, against jitter
        "weight_lip_opening": 4.0,   # lip opening (the lip-sync figures' quantity)
        "weight_closure": 0.0,       # extra lip-opening weight on closures inside speech (p/b/m)
        "weight_closure_detector": 0.0,  # the closure detector's cross-entropy (with a detector)
        "style_drop": 0.15,          # style guidance: share of items trained without their style
        "threads": 2, "checkpoint_minutes": 5.0, "log_every": 50,
        "init": "",  # a checkpoint to fine-tune from (same architecture); empty: from scratch
    },
    "defaults": {"steps": 20, "guidance": 1.5},
}


def merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = merge(out[k], v)
        else:
            out[k] = v
    return out


def load_config(path=None, overrides: dict | None = None) -> dict:
    cfg = copy.deepcopy(DEFAULTS)
    if path:
        with open(path, "rb") as f:
            cfg = merge(cfg, tomllib.load(f))
    if overrides:
        cfg = merge(cfg, overrides)
    return cfg
