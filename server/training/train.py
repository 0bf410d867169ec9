"""The training loop: x0-prediction diffusion with random inpainting masks, audio and style
dropout (for guidance on each), and the closure detector's loss beside the denoiser's.

Resumable (``<run>/state.pt`` every few minutes and at the end), EMA weights exported as a
Mouthpiece checkpoint (``<run>/model``), a progress bar with the loss, a wall-clock budget,
and DDP when launched by ``torchrun`` (each rank draws its own crops; rank 0 saves).
"""

from __future__ import annotations

import copy
import json
import math
import os
import signal
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from server.checkpoint import save_checkpoint
from server.diffusion.masks import random_mask, speech_channel_mask
from server.diffusion.schedule import add_noise, alpha_bar
from server.engine import to_model_space
from server.face.lip_opening import CLOSED_THRESHOLD, LIP_OPENING_NEUTRAL, gain_vector
from server.model import MouthpieceModel
from server.training.data import build_stream, random_batch


def _dist():
    if "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1:
        import torch.distributed as dist

        if not dist.is_initialized():
            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def lip_opening_loss(open_pred: torch.Tensor, open_true: torch.Tensor, weight_closure: float = 0.0) -> torch.Tensor:
    """Mean squared error of the lip opening (B, T), with closures inside speech weighted up.

    Closures inside speech (p/b/m: closed, with the mouth open within 5 frames either side) are a
    few percent of frames, yet they are the figure that separates lip-sync methods;
    ``weight_closure`` adds that much weight to each of their frames.
    """
    open_pred, open_true = open_pred.clamp(min=0), open_true.clamp(min=0)
    weight = torch.ones_like(open_true)
    if weight_closure > 0:
        weight = weight + weight_closure * closures_in_speech(open_true).float()
    return ((open_pred - open_true) ** 2 * weight).mean()


def closures_in_speech(open_true: torch.Tensor) -> torch.Tensor:
    """(B, T) bool: frames where the lips are closed with the mouth open within 5 frames either
    side: the p/b/m closures inside speech (not the lips resting together in a pause)."""
    nearby_open = F.max_pool1d(open_true[:, None], 11, stride=1, padding=5)[:, 0]
    return (open_true <= CLOSED_THRESHOLD) & (nearby_open >= 3 * CLOSED_THRESHOLD)


def closure_detector_loss(model, audio, curves, lip_gains) -> torch.Tensor:
    """Binary cross-entropy of the closure detector against the teacher's closures in speech."""
    open_true = (LIP_OPENING_NEUTRAL + torch.einsum("bct,c->bt", curves, lip_gains)).clamp(min=0)
    target = closures_in_speech(open_true).float()
    logits = model.closure_detector(audio)
    # Closures are a few percent of frames: weigh them up so a detector that says "open" everywhere loses.
    return F.binary_cross_entropy_with_logits(logits, target, pos_weight=torch.tensor(CLOSURE_POS_WEIGHT))


CLOSURE_POS_WEIGHT = 4.0


def training_loss(model, feats, curves, t, generator, cfg_train, ab, lip_gains, speech_mask, fps, valid=None,
                  style=None):
    """One batch's loss. curves: (B, 52, T) in [0, 1]; valid: (52,) channels the data has;
    style: (B, STYLE_DIM, T) the teacher's style per frame, or None (unconditioned data)."""
    b, c, T = curves.shape
    x0 = to_model_space(curves)
    audio = model.encoder(feats, T, fps)
    loss_detector = None
    if model.closure_detector is not None and cfg_train.get("weight_closure_detector", 0) > 0:
        loss_detector = closure_detector_loss(model, audio, curves, lip_gains)
    k = int(cfg_train["noise_levels_per_crop"])
    x0, audio = x0.repeat(k, 1, 1), audio.repeat(k, 1, 1)
    curves = curves.repeat(k, 1, 1)
    t = t.repeat(k) if t.numel() == b else t
    noise = torch.randn(x0.shape, generator=generator)
    x_t = add_noise(x0, noise, t, ab)
    mask = torch.stack([random_mask(T, generator) for _ in range(x0.shape[0])])
    keep = torch.rand(x0.shape[0], generator=generator) >= cfg_train["audio_drop"]
    style_kw = {}
    if model.denoiser.style_dim and style is not None:
        style_keep = torch.rand(x0.shape[0], generator=generator) >= cfg_train.get("style_drop", 0.15)
        style_kw = {"style": style.repeat(k, 1, 1), "style_keep": style_keep}
    pred = model.denoiser(x_t, t, audio, x0, mask, audio_keep=keep, **style_kw)
    # Known values are imposed at sampling, so the loss counts only what the model must generate.
    free = 1.0 - mask
    w = 1.0 + (cfg_train["weight_speech"] - 1.0) * speech_mask[None, :, None]
    if valid is not None:
        w = w * valid[None, :, None]
    loss_x0 = ((pred - x0) ** 2 * w * free).sum() / (w * free).sum().clamp(min=1.0)
    vel_p, vel_t = pred.diff(dim=-1), x0.diff(dim=-1)
    loss_vel = ((vel_p - vel_t) ** 2 * w[..., :1] * free[..., 1:]).mean()
    v_pred = (pred + 1) / 2
    open_pred = LIP_OPENING_NEUTRAL + torch.einsum("bct,c->bt", v_pred, lip_gains)
    open_true = LIP_OPENING_NEUTRAL + torch.einsum("bct,c->bt", curves, lip_gains)
    loss_open = lip_opening_loss(open_pred, open_true, cfg_train.get("weight_closure", 0.0))
    if valid is not None and valid.min() < 1:  # lip opening needs every channel that moves the lips
        loss_open = loss_open * float(valid[lip_gains.abs() > 0.01].min())
    total = (loss_x0 + cfg_train["weight_velocity"] * loss_vel + cfg_train["weight_lip_opening"] * loss_open)
    parts = {"x0": loss_x0.item(), "vel": loss_vel.item(), "open": loss_open.item()}
    if loss_detector is not None:
        total = total + cfg_train["weight_closure_detector"] * loss_detector
        parts["detector"] = loss_detector.item()
    return total, parts


@torch.no_grad()
def update_ema(ema, model, max_decay: float, step: int) -> None:
    """Move the EMA weights toward the model's; the decay ramps up over the first steps."""
    decay = min(max_decay, (1 + step) / (10 + step))
    for pe, pm in zip(ema.parameters(), model.parameters()):
        pe.lerp_(pm, 1 - decay)


def _lr(step, cfg, time_fraction=0.0):
    """Warm-up, then cosine decay over whichever runs out first: the steps or the time budget."""
    warm = cfg["warmup_steps"]
    if step < warm:
        return cfg["lr"] * (step + 1) / warm
    progress = min(1.0, max(time_fraction, (step - warm) / max(1, cfg["max_steps"] - warm)))
    return cfg["lr_min"] + 0.5 * (cfg["lr"] - cfg["lr_min"]) * (1 + math.cos(math.pi * progress))


def train(cfg: dict, run_dir, *, quiet: bool = False, stop_flag=None) -> Path:
    """Train (or resume) a run; returns the exported checkpoint directory."""
    from tqdm import tqdm

    rank, world = _dist()
    tc = cfg["train"]
    torch.set_num_threads(int(tc["threads"]))
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    seed = int(tc["seed"]) + 1000 * rank
    torch.manual_seed(seed)
    model = MouthpieceModel.from_config(cfg["features"], cfg["denoiser"], cfg.get("closure_detector"))
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=tc["lr"], weight_decay=1e-4)
    state_file = run_dir / "state.pt"
    step, elapsed_before = 0, 0.0
    generator = torch.Generator().manual_seed(seed)
    if state_file.is_file():
        state = torch.load(state_file, map_location="cpu", weights_only=False)
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["opt"])
        step, elapsed_before = state["step"], state.get("elapsed", 0.0)
        generator.set_state(state["generator"])
        if not quiet and rank == 0:
            print(f"resuming {run_dir} at step {step} ({elapsed_before / 60:.1f} min trained)", flush=True)
    elif tc.get("init"):
        # Fine-tuning (e.g. a personal style from a short capture take): start from a checkpoint.
        from server.checkpoint import load_checkpoint

        init_model, _ = load_checkpoint(tc["init"])
        added = _load_grown(model, init_model.state_dict())
        ema.load_state_dict(model.state_dict())
        if not quiet and rank == 0:
            print(f"fine-tuning from {tc['init']}" + (f" (new: {', '.join(added)})" if added else ""), flush=True)
    train_model = model
    if world > 1:
        train_model = torch.nn.parallel.DistributedDataParallel(model)
    data = cfg["data"]
    bar = None if quiet else tqdm(desc="preparing data", unit="item", disable=rank != 0)

    def on_item(n, total):
        if bar is not None:
            bar.total = total
            bar.update(n - bar.n)

    kind = data.get("kind", "corpus")
    if kind == "corpus":
        stream = build_stream(data["corpus"], model.encoder, fps=cfg["fps"], split=data["split"],
                              seed=int(tc["seed"]), cache_dir=data.get("cache") or None, progress=on_item,
                              limit=int(data.get("limit") or 0))
    elif kind in ("livelink", "blendvoca"):
        from server.training.capture import build_capture_stream

        stream = build_capture_stream(kind, data["root"], model.encoder, fps=cfg["fps"], progress=on_item,
                                      with_style=bool(model.denoiser.style_dim))
    else:
        raise ValueError(f"data.kind {kind!r}: expected 'corpus', 'livelink' or 'blendvoca'")
    if bar is not None:
        bar.close()
    summary = {"data": kind, "source": str(data["corpus"] if kind == "corpus" else data["root"]),
               "split": data["split"], "hours": round(stream.seconds / 3600, 3),
               "renderings": stream.items, **_provenance(cfg)}
    if getattr(stream, "capture_style", None):
        summary["capture_style"] = stream.capture_style
    if not quiet and rank == 0:
        print(f"training data: {stream.seconds / 3600:.2f} h in {stream.items} renderings", flush=True)
        if getattr(stream, "capture_style", None):
            print(f"the capture's style (generate with it, or --match one of its takes): {stream.capture_style}",
                  flush=True)
    ab = alpha_bar()
    lip_gains = torch.tensor(gain_vector(), dtype=torch.float32)
    speech_mask = speech_channel_mask()
    crop = int(round(tc["crop_seconds"] * cfg["fps"]))
    budget = float(tc["time_budget_minutes"]) * 60
    started = time.time()
    last_save = started
    stop = {"now": False}

    def on_signal(signum, frame):
        stop["now"] = True

    old_handler = signal.signal(signal.SIGINT, on_signal) if rank == 0 else None
    bar = None if quiet else tqdm(total=int(tc["max_steps"]), initial=step, desc="training", unit="step",
                                  disable=rank != 0)
    log = open(run_dir / "log.jsonl", "a") if rank == 0 else None
    running = _resumed_loss(state, run_dir) if state_file.is_file() else None
    model.train()
    try:
        while step < tc["max_steps"]:
            elapsed = elapsed_before + time.time() - started
            if elapsed >= budget or stop["now"] or (stop_flag is not None and stop_flag()):
                break
            for group in opt.param_groups:
                group["lr"] = _lr(step, tc, elapsed / budget)
            feats, curves, style = random_batch(stream, int(tc["batch"]), crop, generator)
            t = torch.randint(0, len(ab), (feats.shape[0] * int(tc["noise_levels_per_crop"]),), generator=generator)
            loss, parts = training_loss(train_model.module if world > 1 else model, feats, curves, t, generator,
                                        tc, ab, lip_gains, speech_mask, float(cfg["fps"]), stream.valid, style)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            update_ema(ema, model, float(tc["ema_decay"]), step)
            running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{running:.4f}", open=f"{parts['open']:.4f}",
                                **({"det": f"{parts['detector']:.3f}"} if "detector" in parts else {}))
            if log is not None and step % int(tc["log_every"]) == 0:
                log.write(json.dumps({"step": step, "loss": running, **parts,
                                      "minutes": round((elapsed_before + time.time() - started) / 60, 2)}) + "\n")
                log.flush()
            if rank == 0 and time.time() - last_save > tc["checkpoint_minutes"] * 60:
                _save_state(state_file, model, ema, opt, step, elapsed_before + time.time() - started, generator,
                            running)
                last_save = time.time()
    finally:
        if old_handler is not None:
            signal.signal(signal.SIGINT, old_handler)
        if bar is not None:
            bar.close()
        if log is not None:
            log.close()
    total_elapsed = elapsed_before + time.time() - started
    out = run_dir / "model"
    if rank == 0:
        _save_state(state_file, model, ema, opt, step, total_elapsed, generator, running)
        summary.update({"steps": step, "minutes": round(total_elapsed / 60, 1), "world_size": world,
                        "final_loss": running})
        save_checkpoint(out, ema, name=cfg["name"], fps=float(cfg["fps"]), defaults=cfg["defaults"],
                        training=summary)
    return out


def _load_grown(model, weights: dict) -> list[str]:
    """Load ``weights`` into ``model``, which may have parts the checkpoint lacks (a style input,
    a closure detector: zero-initialised or new, so the model starts as the checkpoint's function).
    Returns the new parts' top-level names; any other mismatch is an error."""
    missing, unexpected = model.load_state_dict(weights, strict=False)
    grown = ("denoiser.style_in.", "denoiser.style_bias.", "closure_detector.")
    wrong = [k for k in missing if not k.startswith(grown) and not k.startswith("encoder.speech.")]
    if wrong or unexpected:
        raise ValueError(f"init checkpoint does not match the config (missing {wrong[:3]}, unexpected {unexpected[:3]})")
    return sorted({".".join(k.split(".")[:2]) for k in missing if k.startswith(grown)})


def _resumed_loss(state: dict, run_dir: Path) -> float | None:
    """The running loss a resumed run left at (older states lack it: the log's last entry)."""
    if state.get("running") is not None:
        return state["running"]
    log = run_dir / "log.jsonl"
    lines = log.read_text().splitlines() if log.is_file() else []
    return json.loads(lines[-1]).get("loss") if lines else None


def _save_state(path, model, ema, opt, step, elapsed, generator, running=None):
    tmp = Path(str(path) + ".tmp")
    torch.save({"model": model.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(), "step": step,
                "elapsed": elapsed, "generator": generator.get_state(), "running": running}, tmp)
    os.replace(tmp, path)


def export_state(run_dir, cfg: dict, out=None) -> Path:
    """Export the EMA weights of a run's last saved state (``state.pt``) as a checkpoint, while
    the run may still be training: for a look at a model halfway."""
    run_dir = Path(run_dir)
    state = torch.load(run_dir / "state.pt", map_location="cpu", weights_only=False)
    model = MouthpieceModel.from_config(cfg["features"], cfg["denoiser"], cfg.get("closure_detector"))
    model.load_state_dict(state["ema"])
    out = Path(out) if out else run_dir / f"model-step{state['step']}"
    return save_checkpoint(out, model, name=cfg["name"], fps=float(cfg["fps"]), defaults=cfg["defaults"],
                           training={"steps": state["step"], "minutes": round(state["elapsed"] / 60, 1),
                                     "partial": True, **_provenance(cfg)})


def _provenance(cfg: dict) -> dict:
    """What a checkpoint records of how it was trained beyond its data: the loss weights, and
    for a fine-tune the checkpoint it started from with that one's own training record."""
    tc = cfg["train"]
    out = {"loss_weights": {k: tc[k] for k in sorted(tc) if k.startswith("weight_")}, "lr": tc["lr"]}
    if tc.get("init"):
        base = Path(tc["init"]) / "config.json"
        base_training = json.loads(base.read_text()).get("training", {}) if base.is_file() else {}
        out["fine_tuned_from"] = {"checkpoint": str(tc["init"]), "training": base_training}
    return out
