"""Distilled few-step sampling: a trained checkpoint (the teacher) -> a student that samples in
K steps (2-4) with the audio guidance baked in, so one step is one denoiser pass.

Two stages (Meng et al. 2023, "On distillation of guided diffusion models"; Salimans & Ho 2022,
"Progressive distillation"), each a round with its own time budget:

1. **Guidance distillation.** The student (same architecture, initialised from the teacher) learns
   to predict in one pass what the teacher predicts with classifier-free audio guidance at scale g
   (two passes): x0_s(x_t, t) ~ guided_x0(teacher, x_t, t, g), at x_t drawn from the forward
   process at uniformly random t. Its checkpoint, sampled with plain DDIM in K steps, is the
   baseline (``method = "guidance"``).
2. **Progressive distillation** (``method = "progressive"``): rounds halving the step count
   (e.g. 16 -> 8 -> 4 -> 2). In the round for n steps, the previous round's student (n' = 2n
   steps; for the first round the guidance-distilled student at 2n steps) is the frozen teacher;
   the student's one DDIM step from t to t'' must land where the teacher's two steps
   t -> t' -> t'' land. With x0-parameterisation the target x0 is solved from the two-step
   result:  x_t'' = a'' x0 + s'' (x_t - a x0) / s  ->  x0 = (x_t'' - (s''/s) x_t) / (a'' - (s''/s) a),
   with a = sqrt(alpha_bar), s = sqrt(1 - alpha_bar); at the last step (t'' = clean) the target is
   the teacher's second x0 itself.

The step grids are DDIM's "trailing" spacing (server/diffusion/ddim.py), which nest: the n-step
grid is every other step of the 2n-step one, so each student step covers exactly two teacher steps.

Training batches are the training's own: random crops of the corpus stream
(server/training/data.py), random inpainting masks (server/diffusion/masks.py) with the crop's
curves as known values, and the crop's style with the training's style dropout. Known values
are imposed on every x0 of the teacher's steps, as the engine imposes them, and the loss counts
only the free values (as in training), so the student keeps honouring masks. The audio encoder
and the closure detector are the teacher's (frozen); only the denoiser is trained. Style
guidance is not baked in: a style scale other than 1 stays a second pass at sampling.

Resumable (``<run>/state.pt``: the round, weights, optimiser, generator, time spent), a progress
bar per round, a time budget per round (``minutes``), and each round's student exported as a
checkpoint (``<run>/guidance``, ``<run>/steps-8`` ...); the final one goes to ``out`` with
``config["distilled"]`` and defaults ``steps = K``, ``guidance = 1.0``.
"""

from __future__ import annotations

import copy
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from server.checkpoint import load_checkpoint, read_config, save_checkpoint
from server.diffusion.ddim import timesteps_for
from server.diffusion.guidance import guided_x0
from server.diffusion.masks import random_mask, speech_channel_mask
from server.diffusion.schedule import add_noise, alpha_bar
from server.engine import to_model_space
from server.training.data import build_stream, random_batch
from server.training.train import _lr

METHODS = ("progressive", "guidance")
SPACING = "trailing"


@dataclass
class DistillSettings:
    steps: int = 2                 # the student's steps K
    start_steps: int = 16          # progressive: the first round's teacher steps (K * 2^rounds)
    method: str = "progressive"    # or "guidance": guidance distillation only (plain DDIM in K steps)
    guidance: float | None = None  # the audio guidance baked in (None: the teacher's default)
    minutes: float = 5.0           # time budget of each round
    max_iters: int = 100000        # iterations of each round (whichever runs out first)
    batch: int = 16
    crop_seconds: float = 4.0
    lr: float = 1e-4
    lr_min: float = 1e-5
    warmup_steps: int = 20
    style_drop: float = 0.15
    weight_speech: float = 3.0
    threads: int = 2
    seed: int = 0
    checkpoint_minutes: float = 5.0
    corpus: str | list = "data/corpus"  # a corpus directory or a list of them (pooled, as in training)
    cache: str = "data/cache"
    limit: int = 0                 # corpus items to use (0: all)


def rounds(settings: DistillSettings) -> list[tuple[str, int]]:
    """(name, student steps) of each round: ("guidance", K), then ("steps-n", n) halving to K."""
    out = [("guidance", settings.steps)]
    if settings.method == "progressive":
        n = settings.start_steps // 2
        while n >= settings.steps:
            out.append((f"steps-{n}", n))
            n //= 2
    return out


def check_settings(s: DistillSettings) -> None:
    if s.method not in METHODS:
        raise ValueError(f"method {s.method!r}: expected one of {', '.join(METHODS)}")
    if s.steps < 1:
        raise ValueError("steps must be at least 1")
    if s.method == "progressive":
        n = s.start_steps
        while n > s.steps and n % 2 == 0:
            n //= 2
        if n != s.steps or s.start_steps <= s.steps:
            raise ValueError(f"start_steps {s.start_steps} must be steps {s.steps} times a power of two (e.g. "
                             f"{s.steps * 8})")


def solve_x0(x_t, x_target, ab_t, ab_target):
    """The x0 whose one DDIM step (eta 0) from x_t at alpha_bar ab_t lands on x_target at ab_target."""
    a, s = ab_t.sqrt(), (1 - ab_t).sqrt()
    a2, s2 = ab_target.sqrt(), (1 - ab_target).sqrt()
    return (x_target - (s2 / s) * x_t) / (a2 - (s2 / s) * a)


def _per_item(ab, t):
    return ab[t].view(-1, 1, 1)


def two_step_target(teacher, ab, x_t, t, t_mid, t_end, audio, known, mask, style, style_keep):
    """The x0 target of a student step t -> t_end (None: clean): the teacher's steps t -> t_mid -> t_end.

    ``t``, ``t_mid``, ``t_end``: (B,) step indices (t_end < 0 where the step ends clean)."""
    kw = {"style": style, "style_keep": style_keep} if style is not None else {}
    x0_a = teacher(x_t, t, audio, known, mask, **kw)
    x0_a = mask * known + (1 - mask) * x0_a.clamp(-1.0, 1.0)
    eps_a = (x_t - _per_item(ab, t).sqrt() * x0_a) / (1 - _per_item(ab, t)).sqrt()
    x_mid = _per_item(ab, t_mid).sqrt() * x0_a + (1 - _per_item(ab, t_mid)).sqrt() * eps_a
    x0_b = teacher(x_mid, t_mid, audio, known, mask, **kw)
    x0_b = mask * known + (1 - mask) * x0_b.clamp(-1.0, 1.0)
    clean = (t_end < 0).view(-1, 1, 1)
    te = t_end.clamp(min=0)
    eps_b = (x_mid - _per_item(ab, t_mid).sqrt() * x0_b) / (1 - _per_item(ab, t_mid)).sqrt()
    x_end = _per_item(ab, te).sqrt() * x0_b + (1 - _per_item(ab, te)).sqrt() * eps_b
    solved = solve_x0(x_t, x_end, _per_item(ab, t), _per_item(ab, te))
    return torch.where(clean, x0_b, solved).clamp(-1.0, 1.0)


def _student_batch(stream, settings, generator, fps, encoder, style_dim, n_steps=None, ab=None):
    """A training-style batch: clean curves, audio, random masks, style; t drawn uniformly
    (guidance round) or from the n-step grid (progressive rounds) with the teacher's t_mid, t_end."""
    crop = round(settings.crop_seconds * fps)
    feats, curves, style = random_batch(stream, settings.batch, crop, generator)
    b, _, T = curves.shape
    with torch.no_grad():
        audio = encoder(feats, T, fps)
    x0 = to_model_space(curves)
    mask = torch.stack([random_mask(T, generator) for _ in range(b)])
    style_keep = None
    if style_dim and style is not None:
        style_keep = torch.rand(b, generator=generator) >= settings.style_drop
    else:
        style = None
    if n_steps is None:
        t = torch.randint(0, 1000, (b,), generator=generator)
        t_mid = t_end = None
    else:
        grid = timesteps_for(2 * n_steps, 1000, SPACING)         # the teacher's grid
        j = torch.randint(0, n_steps, (b,), generator=generator)  # the student's step
        t, t_mid = grid[2 * j], grid[2 * j + 1]
        t_end = torch.where(2 * j + 2 < len(grid), grid[(2 * j + 2).clamp(max=len(grid) - 1)], torch.full_like(j, -1))
    noise = torch.randn(x0.shape, generator=generator)
    x_t = add_noise(x0, noise, t, ab)
    return x_t, t, t_mid, t_end, audio, x0, mask, style, style_keep


def _loss(pred, target, mask, weight):
    free = 1.0 - mask
    w = weight[None, :, None] * free
    return ((pred - target) ** 2 * w).sum() / w.sum().clamp(min=1.0)


def _export(path, model, teacher_cfg, teacher_path, steps, method, guidance, summary):
    defaults = dict(teacher_cfg["defaults"])
    defaults.update({"steps": int(steps), "guidance": 1.0})
    save_checkpoint(path, model, name=f"{teacher_cfg.get('name', 'mouthpiece')}-distilled-{steps}",
                    fps=float(teacher_cfg["fps"]), defaults=defaults,
                    training={**teacher_cfg.get("training", {}), "distillation": summary})
    config_file = Path(path) / "config.json"
    config = json.loads(config_file.read_text())
    config["distilled"] = {"from": str(teacher_path), "steps": int(steps), "guidance_baked": float(guidance),
                           "method": method, "spacing": SPACING, "style_guidance_baked": False}
    tmp = config_file.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(config, indent=2))
    os.replace(tmp, config_file)
    return Path(path)


def distill(teacher_path, run_dir, out=None, settings: DistillSettings | None = None, *, quiet: bool = False,
            stop_flag=None) -> Path:
    """Distil ``teacher_path`` (resuming ``run_dir`` if it holds a state); returns the student checkpoint."""
    from tqdm import tqdm

    settings = settings or DistillSettings()
    check_settings(settings)
    torch.set_num_threads(int(settings.threads))
    torch.manual_seed(settings.seed)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    teacher_path, teacher_cfg = read_config(teacher_path)
    if teacher_cfg.get("distilled"):
        raise ValueError(f"{teacher_path} is already a distilled student; distil the full model")
    original, _ = load_checkpoint(teacher_path)
    guidance = float(teacher_cfg["defaults"].get("guidance", 1.5) if settings.guidance is None else settings.guidance)
    fps = float(teacher_cfg["fps"])
    plan = rounds(settings)
    state_file = run_dir / "state.pt"
    state = torch.load(state_file, map_location="cpu", weights_only=False) if state_file.is_file() else None
    generator = torch.Generator().manual_seed(settings.seed)
    round_index, iters, elapsed_before = 0, 0, 0.0
    if state is not None:
        round_index, iters, elapsed_before = state["round"], state["iters"], state["elapsed"]
        generator.set_state(state["generator"])
        if not quiet:
            print(f"resuming {run_dir} at round {round_index + 1}/{len(plan)}, iteration {iters}", flush=True)
    stream = build_stream(settings.corpus, original.encoder, fps=fps, split="train", seed=settings.seed,
                          cache_dir=settings.cache or None, limit=int(settings.limit or 0))
    if not quiet:
        print(f"distillation data: {stream.seconds / 3600:.2f} h in {stream.items} renderings; "
              f"rounds: {', '.join(n for n, _ in plan)}; guidance {guidance:g} baked in", flush=True)
    ab = alpha_bar()
    weight = 1.0 + (settings.weight_speech - 1.0) * speech_channel_mask()
    style_dim = int(original.denoiser.style_dim)
    lr_cfg = {"lr": settings.lr, "lr_min": settings.lr_min, "warmup_steps": settings.warmup_steps,
              "max_steps": settings.max_iters}
    budget = float(settings.minutes) * 60
    summary = {"method": settings.method, "guidance": guidance, "rounds": [],
               "corpus": str(settings.corpus) if isinstance(settings.corpus, (str, os.PathLike))
               else [str(c) for c in settings.corpus]}
    if state is not None:
        summary["rounds"] = state.get("rounds", [])
    last = None
    for r in range(round_index, len(plan)):
        name, steps = plan[r]
        student = copy.deepcopy(original)
        if r == 0:
            teacher = original
        else:
            teacher, _ = load_checkpoint(run_dir / plan[r - 1][0])
        if state is not None and r == round_index:
            student.load_state_dict(state["student"])
        elif r > 0:
            student.load_state_dict(teacher.state_dict())
        student.denoiser.train().requires_grad_(True)
        opt = torch.optim.AdamW(student.denoiser.parameters(), lr=settings.lr, weight_decay=0.0)
        if state is not None and r == round_index and state.get("opt") is not None:
            opt.load_state_dict(state["opt"])
        else:
            iters, elapsed_before = 0, 0.0
        started = last_save = time.time()
        # The bar counts iterations against max_iters when that is the limit, else just counts
        # (the time budget ends the round; the postfix says how much of it is left).
        bar = None if quiet else tqdm(total=settings.max_iters if settings.max_iters < 100000 else None,
                                      initial=iters, unit="it", desc=f"round {r + 1}/{len(plan)} {name}")
        running = None
        try:
            while iters < settings.max_iters:
                elapsed = elapsed_before + time.time() - started
                if elapsed >= budget or (stop_flag is not None and stop_flag()):
                    break
                for group in opt.param_groups:
                    group["lr"] = _lr(iters, lr_cfg, elapsed / budget)
                x_t, t, t_mid, t_end, audio, x0, mask, style, style_keep = _student_batch(
                    stream, settings, generator, fps, original.encoder, style_dim,
                    None if r == 0 else steps, ab)
                known = x0
                kw = {"style": style, "style_keep": style_keep} if style is not None else {}
                with torch.no_grad():
                    if r == 0:
                        target = guided_x0(_with_keep(teacher.denoiser, style_keep), x_t, t, audio, known, mask,
                                           guidance, style=style).clamp(-1.0, 1.0)
                    else:
                        target = two_step_target(teacher.denoiser, ab, x_t, t, t_mid, t_end, audio, known,
                                                 mask, style, style_keep)
                pred = student.denoiser(x_t, t, audio, known, mask, **kw)
                loss = _loss(pred, target, mask, weight)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(student.denoiser.parameters(), 1.0)
                opt.step()
                iters += 1
                running = loss.item() if running is None else 0.95 * running + 0.05 * loss.item()
                if bar is not None:
                    bar.update(1)
                    left = max(0.0, budget - (elapsed_before + time.time() - started)) / 60
                    bar.set_postfix(loss=f"{running:.5f}", left=f"{left:.1f} min")
                if time.time() - last_save > settings.checkpoint_minutes * 60:
                    _save_state(state_file, r, iters, elapsed_before + time.time() - started, generator, student, opt,
                                summary["rounds"])
                    last_save = time.time()
        finally:
            if bar is not None:
                bar.close()
        if stop_flag is not None and stop_flag():
            _save_state(state_file, r, iters, elapsed_before + time.time() - started, generator, student, opt,
                        summary["rounds"])
            raise KeyboardInterrupt("distillation stopped")
        student.eval().requires_grad_(False)
        summary["rounds"].append({"round": name, "steps": steps, "iterations": iters, "final_loss": running,
                                  "minutes": round((elapsed_before + time.time() - started) / 60, 2)})
        method = "guidance" if r == 0 else "progressive"
        last = _export(run_dir / name, student, teacher_cfg, teacher_path, steps, method, guidance,
                       dict(summary))
        state = None
        iters, elapsed_before = 0, 0.0
        # The next round starts from this round's export; a resumed run at r + 1 starts there.
        _save_state(state_file, r + 1, 0, 0.0, generator, student, None, summary["rounds"])
        if not quiet:
            print(f"round {name}: {summary['rounds'][-1]['iterations']} iterations, loss "
                  f"{summary['rounds'][-1]['final_loss']}; checkpoint {last}", flush=True)
    if last is None:  # every round was done before: the last one's export
        last = run_dir / plan[-1][0]
    if out is None:
        return last
    model, _ = load_checkpoint(last)
    return _export(out, model, teacher_cfg, teacher_path, settings.steps,
                   "guidance" if settings.method == "guidance" else "progressive", guidance, summary)


def _save_state(path, round_index, iters, elapsed, generator, student, opt, done_rounds):
    tmp = Path(str(path) + ".tmp")
    torch.save({"round": round_index, "iters": iters, "elapsed": elapsed, "generator": generator.get_state(),
                "student": student.state_dict(), "opt": None if opt is None else opt.state_dict(),
                "rounds": done_rounds}, tmp)
    os.replace(tmp, path)


def _with_keep(denoiser, style_keep):
    """The denoiser with the batch's style dropout applied to every pass guided_x0 makes
    (guided_x0 sets style_keep only for style guidance, which is not baked in)."""
    if style_keep is None:
        return denoiser

    def call(x_t, t, audio, known, mask, audio_keep=None, style=None, style_keep=None):
        keep = style_keep_b.repeat(x_t.shape[0] // style_keep_b.shape[0])
        return denoiser(x_t, t, audio, known, mask, audio_keep=audio_keep, style=style, style_keep=keep)

    style_keep_b = style_keep
    return call
