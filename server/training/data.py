"""Training data: corpus items become one long stream of (features, curves) to crop from.

Every rendering (clean or augmented) of a corpus item is turned once into its encoder
features and teacher curves (a fresh random teacher style per rendering, drawn over the whole
range of every control so the style-conditioned model sees it; the style's condition vector is
kept per frame beside the curves), cached on disk
so a restarted run does not redo it. The items are then concatenated in a shuffled order
(each begins and ends in silence, where the teacher rests the mouth), and batches are random
crops of that stream. Crops start on frames where curve and feature grids coincide.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from server.audio import load_audio
from server.style import STYLE_DIM, style_vector
from server.teacher import Style, loudness_envelope, teacher_curves


@dataclass
class Stream:
    features: torch.Tensor  # (C, T_feat) float16
    curves: torch.Tensor  # (T, 52) float32 at fps
    fps: float
    feature_rate: float  # frames per second of `features` (the encoder's input rate)
    seconds: float
    items: int
    valid: torch.Tensor | None = None  # (52,) 1 where the data has the channel (capture may lack some)
    style: torch.Tensor | None = None  # (T, STYLE_DIM) float32: the style each frame's curves were drawn with
    capture_style: dict | None = None  # a capture's inferred performer style (server/training/capture.py)

    @property
    def frames(self) -> int:
        return self.curves.shape[0]


def read_manifest(corpus_dir, split: str | None = "train") -> list[dict]:
    path = Path(corpus_dir) / "manifest.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: build a corpus with scripts/make_corpus first")
    items = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by an interrupted build
        if "id" not in item:
            continue
        if split is None or item.get("split", "train") == split:
            items.append(item)
    return items


def item_phones(corpus_dir, item: dict) -> tuple[list, float]:
    meta = item if "phones" in item else json.loads((Path(corpus_dir) / "items" / f"{item['id']}.json").read_text())
    return [tuple(p) for p in meta["phones"]], float(meta.get("duration", 0.0))


def _teacher_version() -> str:
    """A hash of the teacher's code and data: cached curves from an older teacher are not reused."""
    root = Path(__file__).resolve().parent.parent / "teacher"
    h = hashlib.sha1()
    for f in sorted(root.glob("*.py")) + sorted(root.glob("*.json")):
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


_TEACHER_VERSION = _teacher_version()
_CACHE_FORMAT = 3  # 2: features trimmed on the encoder's input rate; 3: broad style draw


def _cache_key(item_id: str, encoder_config: dict, fps: float, style_seed: int) -> str:
    features = {k: v for k, v in encoder_config.items() if k in ("kind", "n_mels", "hop", "model_dir")}
    blob = json.dumps([item_id, features, fps, style_seed, _TEACHER_VERSION, _CACHE_FORMAT], sort_keys=True).encode()
    return hashlib.sha1(blob).hexdigest()[:16]


def rendering_style(style_seed: int) -> Style:
    """The teacher style of one rendering: the whole range of each control, seeded."""
    return Style.random_broad(np.random.default_rng(style_seed))


def prepare_item(corpus_dir, item: dict, encoder, fps: float, style_seed: int, cache_dir: Path | None):
    """(features (C, T_feat) float16, curves (T, 52) float32) for one rendering, drawn with
    ``rendering_style(style_seed)``."""
    wav = Path(corpus_dir) / "items" / f"{item['id']}.wav"
    key = _cache_key(f"{Path(corpus_dir).resolve()}/{item['id']}:{wav.stat().st_size}", encoder.config(), fps, style_seed)
    cached = cache_dir / f"{key}.npz" if cache_dir else None
    if cached is not None and cached.is_file():
        try:
            with np.load(cached) as z:
                return z["features"], z["curves"]
        except (OSError, ValueError, KeyError):
            pass
    audio = load_audio(str(wav))
    phones, duration = item_phones(corpus_dir, item)
    duration = duration or audio.duration
    loud = loudness_envelope(audio.samples, fps)
    curves = teacher_curves(phones, duration, fps=fps, loudness=loud, style=rendering_style(style_seed),
                            seed=style_seed)
    feats = encoder.features(audio.samples).numpy().astype(np.float16)
    # Trim both to the same duration on their own grids.
    n_frames = min(curves.shape[0], int(math.floor(feats.shape[1] / encoder.input_rate * fps)))
    curves = curves[:n_frames].astype(np.float32)
    feats = feats[:, : int(math.ceil(n_frames * encoder.input_rate / fps))]
    if cached is not None:
        # A name of this process's own: two runs filling one cache must not rename each other's file.
        tmp = cached.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, features=feats, curves=curves)
        os.replace(tmp, cached)
    return feats, curves


def build_stream(corpus_dir, encoder, *, fps: float = 30.0, split: str = "train", seed: int = 0,
                 cache_dir=None, progress=None, limit: int | None = None) -> Stream:
    """Prepare every rendering of a split and concatenate them in a seeded random order.

    ``corpus_dir`` may be a list of corpora (e.g. English and the other languages): their items
    are pooled and shuffled together.
    """
    corpora = [corpus_dir] if isinstance(corpus_dir, (str, os.PathLike)) else list(corpus_dir)
    items = []
    for root in corpora:
        rows = read_manifest(root, split)
        items += [(root, item) for item in (rows[:limit] if limit else rows)]
    if not items:
        raise ValueError(f"no '{split}' items in {', '.join(map(str, corpora))}")
    cache_dir = Path(cache_dir) if cache_dir else None
    if cache_dir:
        cache_dir.mkdir(parents=True, exist_ok=True)
    # A whole number of feature frames per curve frame-group keeps crops aligned on both grids.
    ratio = encoder.input_rate / fps
    group = _alignment_group(ratio)
    order = np.random.default_rng(seed).permutation(len(items))

    def prepared():
        for n, i in enumerate(order):
            root, item = items[i]
            style_seed = int(hashlib.sha1(f"{item['id']}:{seed}".encode()).hexdigest()[:8], 16)
            feats, curves = prepare_item(root, item, encoder, fps, style_seed, cache_dir)
            yield feats, curves, style_vector(rendering_style(style_seed))
            if progress:
                progress(n + 1, len(items))

    return concatenate(prepared(), encoder, fps)


def concatenate(pairs, encoder, fps: float, valid=None) -> Stream:
    """(features, curves) or (features, curves, style vector) tuples -> one Stream, each trimmed
    to the common grid of both rates. Without style vectors the stream has none (capture data:
    the model learns it unconditioned)."""
    ratio = encoder.input_rate / fps
    group = _alignment_group(ratio)
    feats, curves, styles, seconds = [], [], [], 0.0
    for f, c, *style in pairs:
        usable = (c.shape[0] // group) * group
        if usable == 0:
            continue
        curves.append(c[:usable])
        if style:
            styles.append(np.broadcast_to(np.asarray(style[0], np.float32), (usable, STYLE_DIM)))
        feats.append(f[:, : int(round(usable * ratio))])
        need = int(round(usable * ratio)) - feats[-1].shape[1]
        if need > 0:  # the last feature frames of an item may be missing by rounding
            feats[-1] = np.pad(feats[-1], ((0, 0), (0, need)), mode="edge")
        seconds += usable / fps
    if not curves:
        raise ValueError("no usable training items (all shorter than one frame group)")
    return Stream(features=torch.from_numpy(np.concatenate(feats, axis=1)),
                  curves=torch.from_numpy(np.concatenate(curves, axis=0)), fps=fps,
                  feature_rate=encoder.input_rate, seconds=seconds, items=len(curves),
                  valid=None if valid is None else torch.as_tensor(valid, dtype=torch.float32),
                  style=torch.from_numpy(np.concatenate(styles, axis=0)) if len(styles) == len(curves) else None)


def _alignment_group(ratio: float) -> int:
    """Smallest number of curve frames that spans a whole number of feature frames."""
    for g in range(1, 101):
        if abs(g * ratio - round(g * ratio)) < 1e-6:
            return g
    raise ValueError(f"feature rate / fps = {ratio} has no small common grid")


def random_batch(stream: Stream, batch: int, crop_frames: int, generator: torch.Generator):
    """(features (B, C, F), curves (B, 52, T), style (B, STYLE_DIM, T) or None) random crops."""
    ratio = stream.feature_rate / stream.fps
    group = _alignment_group(ratio)
    crop_frames = (crop_frames // group) * group
    n_starts = (stream.frames - crop_frames) // group
    if n_starts <= 0:
        raise ValueError(f"the corpus ({stream.frames} frames) is shorter than one crop ({crop_frames} frames)")
    starts = torch.randint(0, n_starts, (batch,), generator=generator) * group
    f_len = int(round(crop_frames * ratio))
    feats = torch.stack([stream.features[:, int(round(s * ratio)): int(round(s * ratio)) + f_len] for s in starts.tolist()])
    curves = torch.stack([stream.curves[s:s + crop_frames] for s in starts.tolist()])
    style = None
    if stream.style is not None:
        style = torch.stack([stream.style[s:s + crop_frames] for s in starts.tolist()]).transpose(1, 2).contiguous()
    return feats.float(), curves.transpose(1, 2).contiguous(), style
