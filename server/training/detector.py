"""Train the acoustic closure detector (server/model/closure_detector.py) on its own, and put it
into a checkpoint in place of the one the checkpoint has.

The detector learns, per 20 ms bin of the encoder's log-mel, whether the lips are closed for a
p, b or m there: the synthesiser's own phone times in the corpus (every language, clean and
augmented renderings) are the labels, so no teacher curve is in between. Trained alone it is
cheap (no diffusion, one small stack), so it can see the whole corpus many times; on top of the
corpus's audio augmentation it masks mel bands and adds noise to the normalised log-mel, so no
band is one it cannot do without.

    scripts/train_detector --run runs/detector --minutes 40
    scripts/train_detector --run runs/detector --attach server/models/default --out runs/detector/model

Resumable (``<run>/state.pt``), a progress bar, a time budget, a held-out evaluation printed
every ``eval_every`` steps (bilabials found, open vowels left alone) and written to
``<run>/log.jsonl``.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import math
import os
import shutil
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from server.features import build_encoder
from server.model.closure_detector import AcousticClosureDetector, build_closure_detector
from server.phones import BILABIALS, OPEN_VOWELS
from server.training.data import item_phones, prepare_item, read_manifest
from server.training.train import _lr, update_ema


@dataclass
class DetectorSettings:
    corpus: list = field(default_factory=lambda: ["data/corpus", "data/corpus_multi"])
    cache: str = "data/cache"
    base: str = "server/models/default"   # whose encoder features (log-mel settings) to read
    hidden: int = 96
    dilations: tuple = (1, 2, 4, 8, 16, 1, 2, 4)
    minutes: float = 40.0
    max_steps: int = 200000
    batch: int = 32
    crop_seconds: float = 4.0
    lr: float = 2e-3
    lr_min: float = 5e-5
    warmup_steps: int = 200
    pos_weight: float = 2.0
    band_masks: int = 2            # mel bands masked per crop (SpecAugment-style), each up to 8 bins
    feature_noise: float = 0.15    # std of Gaussian noise on the normalised log-mel
    dropout: float = 0.0           # in the detector's residual blocks
    ema_decay: float = 0.999
    threads: int = 1
    seed: int = 0
    eval_every: int = 500
    eval_items: int = 300
    checkpoint_minutes: float = 5.0
    init: str | None = None        # a trained detector.pt to start from (e.g. to add a corpus)


@dataclass
class LabelledStream:
    features: torch.Tensor   # (n_mels, T) float16 at mel_rate
    labels: torch.Tensor     # (T // stride,) float32: 1 where a bilabial closure covers the bin
    items: int
    seconds: float


def bin_labels(phones, n_bins: int, rate: float) -> np.ndarray:
    """(n_bins,) 1 where a P/B/M span overlaps bin k's interval [k - 0.5, k + 0.5) / rate (bin k
    is centred at k / rate, as the detector's output)."""
    out = np.zeros(n_bins, np.float32)
    for phone, start, end in phones:
        if phone in BILABIALS and end > start:
            lo = max(int(math.ceil(start * rate - 0.5)), 0)
            hi = min(int(math.floor(end * rate + 0.5)), n_bins - 1)
            if hi >= lo:
                out[lo:hi + 1] = 1.0
            else:  # shorter than a bin: the nearest bin
                out[min(max(int(round((start + end) / 2 * rate)), 0), n_bins - 1)] = 1.0
    return out


def _style_seed(item_id: str, seed: int) -> int:
    return int(hashlib.sha1(f"{item_id}:{seed}".encode()).hexdigest()[:8], 16)


def load_items(corpora, split: str, encoder, fps: float, cache_dir, *, seed: int = 0, limit: int | None = None,
               progress=None):
    """[(features (n_mels, T) float16, phones, corpus, item)] of a split; features from the
    training cache (the same renderings and features the model trained on)."""
    rows = []
    for root in corpora:
        items = read_manifest(root, split)
        rows += [(root, it) for it in (items[:limit] if limit else items)]
    if cache_dir:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
    out = []
    for n, (root, item) in enumerate(rows):
        feats, _curves = prepare_item(root, item, encoder, fps, _style_seed(item["id"], seed),
                                      Path(cache_dir) if cache_dir else None)
        phones, _ = item_phones(root, item)
        out.append((feats, phones, root, item))
        if progress:
            progress(n + 1, len(rows))
    return out


def labelled_stream(items, stride: int, mel_rate: float) -> LabelledStream:
    feats, labels, seconds = [], [], 0.0
    for f, phones, *_ in items:
        usable = (f.shape[1] // stride) * stride
        if usable < stride:
            continue
        feats.append(np.asarray(f[:, :usable], np.float16))
        labels.append(bin_labels(phones, usable // stride, mel_rate / stride))
        seconds += usable / mel_rate
    return LabelledStream(torch.from_numpy(np.concatenate(feats, axis=1)),
                          torch.from_numpy(np.concatenate(labels)), len(feats), seconds)


def random_batch(stream: LabelledStream, batch: int, crop_bins: int, stride: int, generator, s: DetectorSettings):
    n_starts = stream.labels.shape[0] - crop_bins
    starts = torch.randint(0, n_starts, (batch,), generator=generator).tolist()
    x = torch.stack([stream.features[:, b * stride:(b + crop_bins) * stride] for b in starts]).float()
    y = torch.stack([stream.labels[b:b + crop_bins] for b in starts])
    n_mels = x.shape[1]
    for i in range(batch):
        for _ in range(s.band_masks):
            width = int(torch.randint(0, 9, (1,), generator=generator))
            lo = int(torch.randint(0, n_mels - width + 1, (1,), generator=generator))
            x[i, lo:lo + width] = 0.0
    if s.feature_noise > 0:
        x = x + s.feature_noise * torch.randn(x.shape, generator=generator)
    return x, y


@torch.no_grad()
def evaluate(detector: AcousticClosureDetector, items, threshold: float = 0.5) -> dict:
    """On whole held-out items: the share of bilabials whose span reaches ``threshold`` somewhere
    (found), of open vowels that stay below it throughout (left open), and the frame-level
    cross-entropy."""
    detector.eval()
    found = bilabials = kept_open = vowels = 0
    losses = []
    rate = detector.rate
    for f, phones, *_ in items:
        x = torch.from_numpy(np.asarray(f, np.float32))[None]
        logits = detector(x)[0]
        p = torch.sigmoid(logits).numpy()
        y = bin_labels(phones, len(p), rate)
        losses.append(float(F.binary_cross_entropy_with_logits(logits, torch.from_numpy(y))))
        for phone, start, end in phones:
            lo = max(int(math.floor(start * rate)), 0)
            hi = min(int(math.ceil(end * rate)), len(p) - 1)
            if hi < lo:
                continue
            if phone in BILABIALS:
                bilabials += 1
                found += bool(p[lo:hi + 1].max() >= threshold)
            elif phone in OPEN_VOWELS:
                # the vowel's middle: the ramps into a neighbouring closure may overlap its edges
                a, b = lo + (hi - lo) // 4, hi - (hi - lo) // 4
                vowels += 1
                kept_open += bool(p[a:b + 1].max() < threshold)
    return {"found": found / max(bilabials, 1), "bilabials": bilabials, "open_left": kept_open / max(vowels, 1),
            "vowels": vowels, "bce": float(np.mean(losses)) if losses else float("nan")}


def compare(detector_files, corpora, *, base: str = DetectorSettings.base, cache=DetectorSettings.cache,
            eval_items: int = DetectorSettings.eval_items, progress=None) -> list[dict]:
    """Held-out figures of trained detectors on the same held-out items (those a training run on
    ``corpora`` evaluates on), so runs trained with different corpora can be chosen between."""
    from server.checkpoint import read_config

    _, base_cfg = read_config(base)
    encoder = build_encoder(base_cfg["features"])
    heldout = load_items(corpora, "heldout", encoder, float(base_cfg["fps"]), cache, progress=progress)
    heldout = [heldout[i] for i in np.random.default_rng(0).permutation(len(heldout))[:eval_items]]
    rows = []
    for path in detector_files:
        saved = torch.load(path, map_location="cpu", weights_only=False)
        detector = build_closure_detector(saved["config"], 0)
        detector.load_state_dict(saved["state_dict"])
        with torch.no_grad():
            rows.append({"detector": str(path), "items": len(heldout), **evaluate(detector, heldout)})
    return rows


def train_detector(run_dir, settings: DetectorSettings, *, quiet: bool = False) -> Path:
    """Train (or resume) the detector; returns the path of its weights (``<run>/detector.pt``)."""
    from tqdm import tqdm

    from server.checkpoint import read_config

    s = settings
    torch.set_num_threads(int(s.threads))
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    _, base_cfg = read_config(s.base)
    encoder = build_encoder(base_cfg["features"])
    fps = float(base_cfg["fps"])
    detector = AcousticClosureDetector(n_mels=encoder.n_mels, hidden=s.hidden, dilations=tuple(s.dilations),
                                       mel_rate=encoder.input_rate, dropout=s.dropout)
    ema = copy.deepcopy(detector).eval().requires_grad_(False)
    opt = torch.optim.AdamW(detector.parameters(), lr=s.lr, weight_decay=1e-4)
    generator = torch.Generator().manual_seed(s.seed)
    step, elapsed_before, state = 0, 0.0, None
    state_file = run_dir / "state.pt"
    if state_file.is_file():
        state = torch.load(state_file, map_location="cpu", weights_only=False)
        detector.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["opt"])
        generator.set_state(state["generator"])
        step, elapsed_before = state["step"], state["elapsed"]
        if not quiet:
            print(f"resuming {run_dir} at step {step} ({elapsed_before / 60:.1f} min trained)", flush=True)
    elif s.init:
        start = torch.load(s.init, map_location="cpu", weights_only=False)
        detector.load_state_dict(start["state_dict"])
        ema.load_state_dict(start["state_dict"])
        if not quiet:
            print(f"starting from {s.init} ({start['training'].get('steps')} steps)", flush=True)

    def bar_for(desc):
        bar = None if quiet else tqdm(desc=desc, unit="item")

        def on_item(n, total):
            if bar is not None:
                bar.total = total
                bar.update(n - bar.n)
        return bar, on_item

    bar, on_item = bar_for("training data")
    train_items = load_items(s.corpus, "train", encoder, fps, s.cache, seed=s.seed, progress=on_item)
    if bar is not None:
        bar.close()
    stream = labelled_stream(train_items, detector.stride, detector.mel_rate)
    del train_items
    bar, on_item = bar_for("held-out data")
    heldout = load_items(s.corpus, "heldout", encoder, fps, s.cache, seed=s.seed, progress=on_item)
    if bar is not None:
        bar.close()
    heldout = [heldout[i] for i in np.random.default_rng(0).permutation(len(heldout))[:s.eval_items]]
    if not quiet:
        print(f"training data: {stream.seconds / 3600:.2f} h in {stream.items} renderings "
              f"({float(stream.labels.mean()) * 100:.1f}% of bins closed); held-out items: {len(heldout)}",
              flush=True)
    crop_bins = int(round(s.crop_seconds * detector.rate))
    pos_weight = torch.tensor(float(s.pos_weight))
    budget = s.minutes * 60
    schedule = {k: getattr(s, k) for k in ("lr", "lr_min", "warmup_steps", "max_steps")}  # train._lr's keys
    started = last_save = time.time()
    stop = {"now": False}
    old = signal.signal(signal.SIGINT, lambda *_: stop.__setitem__("now", True))
    log = open(run_dir / "log.jsonl", "a")
    bar = None if quiet else tqdm(total=s.max_steps, initial=step, desc="training the detector", unit="step")
    running = None
    best = {"bce": float("inf"), "step": None, "figures": None, "state": None}
    if state and state.get("best"):
        best = state["best"]

    def save():
        tmp = state_file.with_suffix(".tmp")
        torch.save({"model": detector.state_dict(), "ema": ema.state_dict(), "opt": opt.state_dict(),
                    "generator": generator.get_state(), "step": step,
                    "elapsed": elapsed_before + time.time() - started, "settings": asdict(s), "best": best}, tmp)
        os.replace(tmp, state_file)

    try:
        detector.train()
        while step < s.max_steps and not stop["now"]:
            elapsed = elapsed_before + time.time() - started
            if elapsed >= budget:
                break
            for g in opt.param_groups:
                g["lr"] = _lr(step, schedule, elapsed / budget)
            x, y = random_batch(stream, s.batch, crop_bins, detector.stride, generator, s)
            loss = F.binary_cross_entropy_with_logits(detector(x), y, pos_weight=pos_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(detector.parameters(), 1.0)
            opt.step()
            step += 1
            update_ema(ema, detector, s.ema_decay, step)
            running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{running:.4f}")
            if step % s.eval_every == 0:
                figures = evaluate(ema, heldout)
                detector.train()
                if figures["bce"] < best["bce"]:
                    # Early stopping on unseen voices: the detector that generalises best is kept.
                    best.update(bce=figures["bce"], step=step, figures=figures,
                                state={k: v.clone() for k, v in ema.state_dict().items()})
                record = {"step": step, "loss": running, "minutes": round((elapsed_before + time.time() - started) / 60, 2),
                          **figures}
                log.write(json.dumps(record) + "\n")
                log.flush()
                if not quiet:
                    tqdm.write(f"step {step}: held-out bilabials found {figures['found']:.3f} of "
                               f"{figures['bilabials']}, open vowels left open {figures['open_left']:.3f} "
                               f"of {figures['vowels']}, bce {figures['bce']:.4f}")
            if time.time() - last_save > s.checkpoint_minutes * 60:
                save()
                last_save = time.time()
    finally:
        signal.signal(signal.SIGINT, old)
        if bar is not None:
            bar.close()
        log.close()
    save()
    if best["state"] is not None:
        ema.load_state_dict(best["state"])
    figures = evaluate(ema, heldout)
    out = run_dir / "detector.pt"
    torch.save({"config": ema.config(), "state_dict": ema.state_dict(),
                "training": {"steps": step, "kept_step": best["step"] or step,
                             "minutes": round((elapsed_before + time.time() - started) / 60, 1),
                             "hours": round(stream.seconds / 3600, 2), "renderings": stream.items,
                             "corpus": [str(c) for c in s.corpus], "heldout": figures,
                             "settings": {k: v for k, v in asdict(s).items() if k not in ("cache",)}}}, out)
    if not quiet:
        print(f"kept the detector of step {best['step'] or step} (lowest held-out cross-entropy); held-out "
              f"({len(heldout)} items): bilabials found {figures['found']:.3f}, open vowels left "
              f"open {figures['open_left']:.3f}; detector in {out}", flush=True)
    return out


def attach(detector_file, base, out) -> Path:
    """A copy of checkpoint ``base`` with the trained detector in place of its own."""
    from safetensors.torch import load_file, save_file

    from server.checkpoint import CONFIG, WEIGHTS, read_config

    base, config = read_config(base)
    saved = torch.load(detector_file, map_location="cpu", weights_only=False)
    out = Path(out)
    if out.resolve() != base.resolve():
        if out.exists():
            shutil.rmtree(out)
        shutil.copytree(base, out)
    weights = {k: v for k, v in load_file(str(base / WEIGHTS)).items() if not k.startswith("closure_detector.")}
    weights.update({f"closure_detector.{k}": v.contiguous() for k, v in saved["state_dict"].items()})
    config["closure_detector"] = saved["config"]
    config.setdefault("training", {})["closure_detector"] = saved["training"]
    save_file(weights, str(out / (WEIGHTS + ".tmp")))
    os.replace(out / (WEIGHTS + ".tmp"), out / WEIGHTS)
    (out / (CONFIG + ".tmp")).write_text(json.dumps(config, indent=2))
    os.replace(out / (CONFIG + ".tmp"), out / CONFIG)
    return out


# Candidate (low, high) envelopes for choose_envelope, from the old head's (0.35, 0.6) down.
ENVELOPES = ((0.35, 0.6), (0.3, 0.5), (0.25, 0.45), (0.2, 0.4), (0.15, 0.35), (0.1, 0.3), (0.05, 0.2))
# How much of the open vowels the closures may cost against no closure guidance at all.
OPEN_VOWEL_COST = 0.01


def choose_envelope(checkpoint, corpora, *, items_per_corpus: int = 24, candidates=ENVELOPES,
                    progress=None) -> dict:
    """Pick the detector's probability -> envelope thresholds on held-out synthetic voices (never on
    real speech): the candidate that closes most bilabials at the synthesiser's phone times while
    the open vowels opened stay within OPEN_VOWEL_COST of the denoiser without closure guidance.
    Writes the choice into the checkpoint's config; returns every candidate's figures."""
    from server.audio import load_audio
    from server.checkpoint import CONFIG, read_config
    from server.engine import Engine
    from server.evaluation import lipsync
    from server.evaluation.heldout import heldout_items
    from server.face.lip_opening import lip_opening
    from server.request import GenerationRequest
    from server.speech.language import UNDETERMINED

    engine = Engine.from_checkpoint(checkpoint, device="cpu")
    detector = engine.model.closure_detector
    if not isinstance(detector, AcousticClosureDetector):
        raise ValueError(f"{checkpoint}: its closure detector is not the acoustic one")
    clips = []
    for corpus in corpora:
        for item in heldout_items(corpus, items_per_corpus):
            phones, _ = item_phones(corpus, item)
            clips.append((load_audio(str(Path(corpus) / "items" / f"{item['id']}.wav")), phones))
    neutral = {"articulation": 1.0, "smile": 0.0, "asymmetry": 0.0} if engine.style_dim else None

    def score(settings) -> tuple:
        closure, vowels = lipsync.Share(0, 0), lipsync.Share(0, 0)
        for audio, phones in clips:
            take = engine.generate(GenerationRequest(audio=audio, fps=engine.fps, samples=1, seed=0, style=neutral,
                                                     language=UNDETERMINED, **settings)).takes[0]
            opening = lip_opening(take)
            closure = closure + lipsync.bilabial_closure(opening, phones, engine.fps)
            vowels = vowels + lipsync.open_vowels(opening, phones, engine.fps)
            if progress:
                progress()
        return closure, vowels

    _, baseline = score({"lip_closure": 0.0})
    figures = {"denoiser_open": str(baseline), "candidates": []}
    best = None
    for low, high in candidates:
        detector.envelope = (low, high)
        closure, vowels = score({})
        figures["candidates"].append({"envelope": [low, high], "closure": str(closure), "open": str(vowels)})
        allowed = vowels.value >= baseline.value - OPEN_VOWEL_COST
        if allowed and (best is None or closure.value > best[1]):
            best = ((low, high), closure.value)
    chosen = best[0] if best else candidates[0]
    figures["chosen"] = list(chosen)
    path, config = read_config(checkpoint)
    config["closure_detector"]["envelope"] = list(chosen)
    config.setdefault("training", {}).setdefault("closure_detector", {})["envelope_choice"] = figures
    (path / (CONFIG + ".tmp")).write_text(json.dumps(config, indent=2))
    os.replace(path / (CONFIG + ".tmp"), path / CONFIG)
    return figures


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="train_detector", description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", default="runs/detector", help="run directory (resumed if it exists)")
    ap.add_argument("--corpus", action="append", help="corpus folder (repeatable; default data/corpus and "
                                                      "data/corpus_multi)")
    ap.add_argument("--cache", default=DetectorSettings.cache)
    ap.add_argument("--base", default=DetectorSettings.base, help="checkpoint whose audio features to read")
    ap.add_argument("--minutes", type=float, default=DetectorSettings.minutes)
    ap.add_argument("--threads", type=int, default=DetectorSettings.threads)
    ap.add_argument("--eval-items", type=int, default=DetectorSettings.eval_items)
    ap.add_argument("--init", help="a trained detector.pt to start from")
    ap.add_argument("--lr", type=float, default=DetectorSettings.lr)
    ap.add_argument("--dropout", type=float, default=DetectorSettings.dropout)
    ap.add_argument("--feature-noise", type=float, default=DetectorSettings.feature_noise)
    ap.add_argument("--attach", metavar="CHECKPOINT", help="instead of training: put <run>/detector.pt into a "
                                                          "copy of CHECKPOINT, written to --out")
    ap.add_argument("--out", help="where --attach writes the checkpoint")
    ap.add_argument("--choose-envelope", metavar="CHECKPOINT",
                    help="instead of training: choose CHECKPOINT's detector thresholds on the held-out voices "
                         "of the --corpus folders and write them into its config")
    ap.add_argument("--items", type=int, default=24, help="held-out items per corpus for --choose-envelope")
    ap.add_argument("--compare", nargs="+", metavar="DETECTOR_PT",
                    help="instead of training: the held-out figures of these detector.pt files on the same "
                         "held-out items of the --corpus folders (lowest cross-entropy first)")
    args = ap.parse_args(argv)
    if args.compare:
        corpora = args.corpus or DetectorSettings().corpus
        rows = compare(args.compare, corpora, base=args.base, cache=args.cache, eval_items=args.eval_items)
        for row in sorted(rows, key=lambda r: r["bce"]):
            print(f"{row['detector']}: held-out cross-entropy {row['bce']:.4f}, bilabials found {row['found']:.3f} "
                  f"of {row['bilabials']}, open vowels left open {row['open_left']:.3f} of {row['vowels']} "
                  f"({row['items']} items)")
        return 0
    if args.attach:
        if not args.out:
            ap.error("--attach needs --out")
        print(attach(Path(args.run) / "detector.pt", args.attach, args.out))
        return 0
    if args.choose_envelope:
        from tqdm import tqdm

        corpora = args.corpus or DetectorSettings().corpus
        bar = tqdm(total=len(corpora) * args.items * (1 + len(ENVELOPES)), desc="choosing the envelope", unit="take")
        figures = choose_envelope(args.choose_envelope, corpora, items_per_corpus=args.items,
                                  progress=lambda: bar.update(1))
        bar.close()
        print(f"denoiser alone: open vowels {figures['denoiser_open']}")
        for c in figures["candidates"]:
            print(f"envelope {c['envelope']}: closure {c['closure']}, open vowels {c['open']}")
        print(f"chosen: {figures['chosen']} (written into {args.choose_envelope})")
        return 0
    settings = DetectorSettings(minutes=args.minutes, threads=args.threads, cache=args.cache, base=args.base,
                                eval_items=args.eval_items, init=args.init, lr=args.lr, dropout=args.dropout,
                                feature_noise=args.feature_noise)
    if args.corpus:
        settings.corpus = args.corpus
    missing = [c for c in settings.corpus if not (Path(c) / "manifest.jsonl").is_file()]
    if missing:
        print(f"train_detector: no corpus at {', '.join(missing)}: build one with scripts/make_corpus",
              file=sys.stderr)
        return 2
    train_detector(args.run, settings)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
