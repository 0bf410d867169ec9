"""Training on real capture instead of the synthetic corpus: audio paired with ARKit curves.

Two layouts are read (see docs/TRAINING.md):

- ``livelink``: a folder of takes, each ``NAME.wav`` (or .flac/.ogg) beside ``NAME.csv`` (or
  ``.csv.gz``), the CSV as Live Link Face writes it (Timecode, BlendshapeCount, 52 PascalCase
  names, 60 fps) or a Mouthpiece CSV/JSON. Subfolders are searched too. A take's audio and
  curves must start together (trim the audio to the take's first Timecode before).
- ``blendvoca``: SAiD's BlendVOCA layout, ``ROOT/audio/<speaker>/<sentence>.wav`` and
  ``ROOT/blendshape_coeffs/<speaker>/<sentence>.csv`` (a header of ARKit names, a subset of the
  52, one row per frame at 60 fps). Channels the data lacks are left out of the loss.

Curves are resampled to the model's frame rate; audio goes through the same encoder features
as the synthetic corpus.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from addon.core import arkit
from addon.core.curvefile import read_any, read_livelink_csv
from server.audio import load_audio
from server.timebase import num_frames, resample_curves
from server.training.data import Stream, concatenate

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
BLENDVOCA_FPS = 60.0


def livelink_pairs(root) -> list[tuple[Path, Path]]:
    """(audio, curves) file pairs in a Live Link Face capture folder."""
    root = Path(root)
    pairs = []
    for audio in sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES):
        stem = audio.with_suffix("")
        for curves in (stem.with_suffix(".csv"), Path(str(stem) + ".csv.gz"), stem.with_suffix(".json")):
            if curves.is_file():
                pairs.append((audio, curves))
                break
    if not pairs:
        raise ValueError(f"{root}: no take found (expected NAME.wav beside NAME.csv from Live Link Face)")
    return pairs


def blendvoca_pairs(root) -> list[tuple[Path, Path]]:
    root = Path(root)
    audio_dir, coeff_dir = root / "audio", root / "blendshape_coeffs"
    if not audio_dir.is_dir() or not coeff_dir.is_dir():
        raise ValueError(f"{root}: expected the BlendVOCA folders audio/ and blendshape_coeffs/")
    pairs = []
    for curves in sorted(coeff_dir.rglob("*.csv")):
        rel = curves.relative_to(coeff_dir).with_suffix(".wav")
        audio = audio_dir / rel
        if audio.is_file():
            pairs.append((audio, curves))
    if not pairs:
        raise ValueError(f"{root}: no sentence has both audio/<speaker>/<name>.wav and blendshape_coeffs/<speaker>/<name>.csv")
    return pairs


def read_blendvoca_csv(path) -> tuple[np.ndarray, np.ndarray]:
    """(frames x 52 curves at 60 fps, (52,) mask of the channels the file has)."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], [r for r in rows[1:] if r]
    cols = {i: arkit.canonical_name(h) for i, h in enumerate(header)}
    cols = {i: arkit.INDEX[c] for i, c in cols.items() if c is not None}
    if not cols:
        raise ValueError(f"{path}: no ARKit channel names in its header")
    curves = np.zeros((len(body), arkit.NUM_CHANNELS), np.float32)
    valid = np.zeros(arkit.NUM_CHANNELS, np.float32)
    for i, c in cols.items():
        curves[:, c] = [float(r[i]) for r in body]
        valid[c] = 1.0
    return np.clip(curves, 0, 1), valid


def _read_curves(layout: str, path: Path) -> tuple[np.ndarray, float, np.ndarray]:
    if layout == "blendvoca":
        curves, valid = read_blendvoca_csv(path)
        return curves, BLENDVOCA_FPS, valid
    take = read_livelink_csv(path) if str(path).endswith(".gz") else read_any(path, fps=60.0)
    return np.asarray(take.frames, np.float32), take.fps, np.ones(arkit.NUM_CHANNELS, np.float32)


def build_capture_stream(layout: str, root, encoder, *, fps: float = 30.0, progress=None,
                         with_style: bool = False) -> Stream:
    """The capture as a training stream. ``with_style`` (a style-conditioned model): every take is
    conditioned on the performer's style, inferred once from all of the capture's curves
    (server/style_infer.py), and the stream's ``capture_style`` says what it was: a fine-tuned
    model then performs that person when asked for that style (``--match`` on one of the takes)."""
    pairs = blendvoca_pairs(root) if layout == "blendvoca" else livelink_pairs(root)
    valid_all = np.ones(arkit.NUM_CHANNELS, np.float32)
    prepared = []
    for n, (audio_path, curve_path) in enumerate(pairs):
        audio = load_audio(str(audio_path))
        curves, src_fps, valid = _read_curves(layout, curve_path)
        valid_all = valid_all * valid
        # The shorter of audio and curves decides the usable length.
        seconds = min(audio.duration, curves.shape[0] / src_fps)
        n_frames = num_frames(seconds, fps) - 1
        if n_frames < 2:
            continue
        feats = encoder.features(audio.samples).numpy().astype(np.float16)
        prepared.append((feats, resample_curves(curves, src_fps, fps, n_frames)))
        if progress:
            progress(n + 1, len(pairs))
    style = None
    if with_style and prepared:
        from server.style import public_dict, style_vector
        from server.style_infer import infer_style

        style = infer_style(np.concatenate([c for _, c in prepared]), fps)
        prepared = [(f, c, style_vector(style)) for f, c in prepared]
    stream = concatenate(prepared, encoder, fps)
    stream.valid = __import__("torch").as_tensor(valid_all)
    if style is not None:
        stream.capture_style = public_dict(style)
    return stream
