"""Match this take: infer the performance style from ARKit curves alone (no audio).

A take's summary statistics (per-channel levels and spreads, how fast each channel moves, blink
and saccade rates, brow movement, left/right differences, how far the lips open while speaking)
map linearly (ridge regression) to the model's style condition (``server.style.style_vector``).
The map is fitted on the teacher's own curves and on the shipped model's takes, both drawn with
``Style.random_broad`` styles, so an inferred value means what the same value means to the model:

    style = infer_style(curves, fps)          # a server.teacher.Style
    public_dict(style)                        # {"articulation": 1.2, ..., "emotion": "sad", "intensity": 0.4}

The coefficients are committed in ``server/style_infer.json``; ``scripts/fit_style_infer`` refits
them (and reports the held-out error per key).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from addon.core import arkit
from server.face.lip_opening import raw_lip_opening
from server.phones import CONSONANTS, VOWELS
from server.style import CONTROLS, NON_NEUTRAL, STYLE_DIM, StyleError, style_vector, vector_to_style
from server.teacher.style import Style
from server.timebase import num_frames, resample_curves

FPS = 30.0  # references are resampled to this rate before their statistics are taken
COEFFICIENTS = Path(__file__).with_name("style_infer.json")
MIN_FRAMES = 15  # half a second: shorter references say too little
# Frames whose lips open by more than this (the lip-opening model's units) count as speaking.
SPEAKING_OPENING = 0.08
BLINK_LEVEL = 0.5
SACCADE_STEP = 0.04  # an eyeLook change per frame above this is a saccade
BROW_CHANNELS = ("browInnerUp", "browOuterUpLeft", "browOuterUpRight", "browDownLeft", "browDownRight")
LIP_CHANNELS = ("jawOpen", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthUpperUpLeft", "mouthUpperUpRight",
                "mouthFunnel", "mouthPucker", "mouthStretchLeft", "mouthStretchRight")
PAIRS = tuple((name, name[:-4] + "Right") for name in arkit.CHANNELS if name.endswith("Left")
              and name[:-4] + "Right" in arkit.INDEX)
LOOK = tuple(n for n in arkit.CHANNELS if n.startswith("eyeLook"))
# An inferred emotion weaker than this reads as neutral.
NEUTRAL_BELOW = 0.15


class StyleInferenceError(ValueError):
    """A reference that cannot be read for a style; the message says what to give instead."""


def _idx(names) -> list[int]:
    return [arkit.INDEX[n] for n in names]


def features(curves: np.ndarray, fps: float = FPS) -> np.ndarray:
    """The take's summary statistics (a fixed-length float64 vector), at 30 fps."""
    x = np.asarray(curves, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != arkit.NUM_CHANNELS:
        raise StyleInferenceError(f"curves: expected frames x {arkit.NUM_CHANNELS} values, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise StyleInferenceError("curves: contains NaN or infinite values")
    if not np.isfinite(fps) or fps <= 0:
        raise StyleInferenceError(f"fps: {fps!r} is not a positive frame rate")
    if abs(fps - FPS) > 1e-9:
        x = resample_curves(x, fps, FPS, num_frames(len(x) / fps, FPS)).astype(np.float64)
    x = np.clip(x, 0.0, 1.0)
    if len(x) < MIN_FRAMES:
        raise StyleInferenceError(f"curves: {len(x)} frames at {FPS:g} fps is too short to infer a style from; "
                                  f"give at least {MIN_FRAMES / FPS:g} s")
    seconds = len(x) / FPS
    vel = np.diff(x, axis=0)
    parts = [x.mean(0), np.percentile(x, 10, axis=0), np.percentile(x, 50, axis=0), np.percentile(x, 90, axis=0),
             x.std(0), np.abs(vel).mean(0), vel.std(0)]

    opening = raw_lip_opening(x)
    speaking = opening > SPEAKING_OPENING
    lips = x[:, _idx(LIP_CHANNELS)]
    if speaking.sum() >= 3:
        spoken = lips[speaking]
        speech = np.concatenate([spoken.mean(0), np.percentile(spoken, 90, axis=0),
                                 [opening[speaking].mean(), np.percentile(opening[speaking], 90)]])
    else:
        speech = np.zeros(2 * len(LIP_CHANNELS) + 2)
    speech = np.concatenate([speech, [speaking.mean(), np.percentile(opening, 90), opening.std()]])

    blink = x[:, _idx(("eyeBlinkLeft", "eyeBlinkRight"))].mean(1)
    above = blink > BLINK_LEVEL
    blinks = np.count_nonzero(above[1:] & ~above[:-1]) + int(above[0])
    look = x[:, _idx(LOOK)]
    c = arkit.INDEX
    # gaze: x towards the subject's left, y up (eyeLookDown also moves with blinks: left out of y)
    gx = 0.5 * (x[:, c["eyeLookOutLeft"]] - x[:, c["eyeLookInLeft"]] + x[:, c["eyeLookInRight"]]
                - x[:, c["eyeLookOutRight"]])
    gy = 0.5 * (x[:, c["eyeLookUpLeft"]] + x[:, c["eyeLookUpRight"]])
    jumps = np.hypot(np.diff(gx), np.diff(gy))
    saccade_counts = []
    for step in (0.5 * SACCADE_STEP, SACCADE_STEP, 2 * SACCADE_STEP):
        moving = jumps > step
        saccade_counts.append((np.count_nonzero(moving[1:] & ~moving[:-1]) + int(moving[0])) / seconds)
    saccades = saccade_counts[1] * seconds
    brows = x[:, _idx(BROW_CHANNELS)]
    brow_vel = np.abs(np.diff(brows, axis=0))
    events = np.array([blinks / seconds, np.sqrt(blinks / seconds), saccades / seconds,
                       np.sqrt(saccades / seconds), *saccade_counts, np.log1p(jumps.sum() / seconds),
                       jumps.mean(), np.percentile(jumps, 95), np.percentile(jumps, 99), gx.std(), gy.std(),
                       np.abs(gx).mean(), look.std(0).mean(), np.log1p(blinks) / seconds,
                       brows.std(0).mean(), brow_vel.mean(), np.percentile(brows, 95, axis=0).mean()
                       - np.percentile(brows, 5, axis=0).mean()])

    left, right = x[:, _idx(p[0] for p in PAIRS)], x[:, _idx(p[1] for p in PAIRS)]
    diff = (left - right).mean(0)
    balance = diff / (left.mean(0) + right.mean(0) + 0.02)
    sided = np.array([balance.mean(), diff.sum(), x[:, arkit.INDEX["mouthLeft"]].mean()
                      - x[:, arkit.INDEX["mouthRight"]].mean()])
    return np.concatenate(parts + [speech, events, diff, balance, sided])


def load_coefficients(path: Path | str = COEFFICIENTS) -> dict:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise StyleInferenceError(f"cannot read the style-inference fit {path}: {e}; refit it with "
                                  "scripts/fit_style_infer") from None
    return data


_cached: dict | None = None


def _model() -> dict:
    global _cached
    if _cached is None:
        data = load_coefficients()
        _cached = {"mean": np.asarray(data["feature_mean"]), "scale": np.asarray(data["feature_scale"]),
                   "weights": np.asarray(data["weights"]), "bias": np.asarray(data["bias"])}
    return _cached


def predict_vector(curves: np.ndarray, fps: float = FPS, model: dict | None = None) -> np.ndarray:
    """(STYLE_DIM,) the style condition the curves look like (unclipped)."""
    m = model or _model()
    f = features(curves, fps)
    if f.shape[0] != m["mean"].shape[0]:
        raise StyleInferenceError("the style-inference fit does not match this code's features; refit it with "
                                  "scripts/fit_style_infer")
    return ((f - m["mean"]) / m["scale"]) @ m["weights"] + m["bias"]


def vector_as_style(vector: np.ndarray) -> Style:
    """A predicted condition as a Style: controls clipped to range; the strongest emotion, or neutral."""
    v = np.asarray(vector, dtype=np.float64).copy()
    emotions = v[len(CONTROLS):].copy()
    if emotions.max() < NEUTRAL_BELOW:
        v[len(CONTROLS):] = 0.0
    else:
        keep = int(np.argmax(emotions))
        v[len(CONTROLS):] = 0.0
        v[len(CONTROLS) + keep] = max(emotions[keep], 0.05)
    return vector_to_style(v)


def infer_style(curves: np.ndarray, fps: float = FPS, model: dict | None = None) -> Style:
    """The style a take was performed in, from its ARKit curves (T, 52) at ``fps``."""
    return vector_as_style(predict_vector(curves, fps, model))


def read_reference(path) -> tuple[np.ndarray, float]:
    """A reference take -> (curves (T, 52) float32, fps): Live Link Face CSV (.csv or .csv.gz, 60 fps),
    a Mouthpiece curve CSV (30 fps, the CLI's output rate by default) or the curve JSON (its own fps)."""
    from addon.core.curvefile import CurveFileError, read_any

    try:
        take = read_any(str(path), fps=FPS)
    except CurveFileError as e:
        raise StyleInferenceError(str(e)) from None
    except OSError as e:
        raise StyleInferenceError(f"{path}: cannot read it ({e.strerror or e})") from None
    if not take.frames:
        raise StyleInferenceError(f"{path}: holds no frames")
    return np.asarray(take.frames, np.float32), float(take.fps)


def infer_file(path) -> Style:
    curves, fps = read_reference(path)
    return infer_style(curves, fps)


# --- fitting ------------------------------------------------------------------------------------



def synthetic_phones(rng: np.random.Generator) -> tuple[list, float]:
    """A random utterance: syllables (consonants around a vowel) in words, with pauses; 2-7 s."""
    t = float(rng.uniform(0.2, 0.6))
    phones = []
    target = float(rng.uniform(2.0, 7.0))
    while t < target - 0.5:
        for _ in range(int(rng.integers(1, 4))):  # syllables in a word
            for _ in range(int(rng.integers(0, 3))):
                d = float(rng.uniform(0.05, 0.12))
                phones.append((CONSONANTS[int(rng.integers(len(CONSONANTS)))], t, t + d))
                t += d
            d = float(rng.uniform(0.07, 0.22))
            phones.append((VOWELS[int(rng.integers(len(VOWELS)))] + str(int(rng.integers(0, 3))), t, t + d))
            t += d
        if rng.random() < 0.25:
            t += float(rng.uniform(0.15, 0.6))  # a pause
    return phones, t + float(rng.uniform(0.2, 0.6))


def corpus_utterances(corpus, n: int, rng: np.random.Generator) -> list[tuple[list, float]]:
    """Up to ``n`` distinct utterances' phones from a corpus (its clean items; augmented copies repeat them)."""
    from server.training.data import item_phones, read_manifest

    items = [it for it in read_manifest(corpus, split=None) if not it.get("augment")]
    chosen = rng.permutation(len(items))[:n]
    out = []
    for i in chosen:
        phones, duration = item_phones(corpus, items[int(i)])
        if duration > 0.5:
            out.append((phones, duration))
    return out


def references(pool, n: int, rng: np.random.Generator, seconds=(4.0, 15.0)) -> list[tuple[list, float]]:
    """``n`` references of ``seconds`` (uniform) each, strung together from random utterances of ``pool``
    with short pauses between them: a take to match is usually longer than one line."""
    out = []
    for _ in range(n):
        phones, t, target = [], 0.0, float(rng.uniform(*seconds))
        while t < target:
            line, duration = pool[int(rng.integers(len(pool)))]
            phones += [(p, a + t, b + t) for p, a, b in line]
            t += duration + float(rng.uniform(0.0, 0.5))
        out.append((phones, t))
    return out


def teacher_set(utterances, rng: np.random.Generator):
    """(features (N, F), targets (N, STYLE_DIM), styles) of the teacher's curves under random_broad styles."""
    from server.teacher import teacher_curves

    X, Y, styles = [], [], []
    for phones, duration in utterances:
        style = Style.random_broad(rng)
        curves = teacher_curves(phones, duration, fps=FPS, style=style, seed=int(rng.integers(2**31)))
        X.append(features(curves, FPS))
        Y.append(style_vector(style))
        styles.append(style)
    return np.stack(X), np.stack(Y).astype(np.float64), styles


def model_set(engine, corpora, n: int, rng: np.random.Generator, split: str = "train",
              seconds: tuple[float, float] | None = None, progress=None):
    """(features, targets, styles) of the model's own takes: ``n`` corpus lines (``split``'s
    voices), or with ``seconds`` (MIN, MAX) lines joined into references that long, each
    generated under a random_broad style. The model does not reproduce the teacher's statistics
    exactly (its blinks, gaze and brows are smoother, and its range of brow activity narrower),
    so matching a Mouthpiece take is fitted on Mouthpiece takes too. The takes are made with the
    model's closure detector alone (language "und"): the recogniser would only cost time."""
    from server.audio import joined, load_audio
    from server.engine import GenerationRequest
    from server.speech.language import UNDETERMINED
    from server.style import public_dict
    from server.training.data import read_manifest

    items = [(c, it) for c in corpora for it in read_manifest(c, split=split) if not it.get("augment")]
    order = [items[int(i)] for i in rng.permutation(len(items))]
    X, Y, styles = [], [], []
    k = 0
    for _ in range(n):
        target = float(rng.uniform(*seconds)) if seconds else 0.0
        parts, total = [], 0.0
        while not parts or total < target:
            corpus, item = order[k % len(order)]
            k += 1
            parts.append(load_audio(str(Path(corpus) / "items" / f"{item['id']}.wav")))
            total += parts[-1].duration
        audio = joined(parts)
        style = Style.random_broad(rng)
        take = engine.generate(GenerationRequest(audio=audio, fps=FPS, seed=int(rng.integers(2**31)),
                                                 style=public_dict(style), language=UNDETERMINED)).takes[0]
        if progress:
            progress()
        X.append(features(take, FPS))
        Y.append(style_vector(style))
        styles.append(style)
    return np.stack(X), np.stack(Y).astype(np.float64), styles


def fit(X: np.ndarray, Y: np.ndarray, ridge: float = 3.0) -> dict:
    mean = X.mean(0)
    scale = X.std(0)
    scale[scale < 1e-8] = 1.0
    Z = (X - mean) / scale
    bias = Y.mean(0)
    A = Z.T @ Z + ridge * len(Z) / 100.0 * np.eye(Z.shape[1])
    W = np.linalg.solve(A, Z.T @ (Y - bias))
    return {"mean": mean, "scale": scale, "weights": W, "bias": bias}


def errors(model: dict, X: np.ndarray, styles: list[Style]) -> dict[str, float]:
    """Mean absolute error per public key (controls in their own units; intensity of the true emotion;
    emotion: the share named wrong)."""
    out: dict[str, list[float]] = {k: [] for k in CONTROLS + ("intensity", "emotion")}
    for f, true in zip(X, styles):
        v = ((f - model["mean"]) / model["scale"]) @ model["weights"] + model["bias"]
        got = vector_as_style(v)
        for k in CONTROLS:
            out[k].append(abs(getattr(got, k) - getattr(true, k)))
        e = v[len(CONTROLS):]
        true_i = 0.0 if true.emotion == "neutral" else e[NON_NEUTRAL.index(true.emotion)]
        out["intensity"].append(abs(float(np.clip(true_i, 0, 1)) - true.intensity))
        out["emotion"].append(float(got.emotion != true.emotion))
    return {k: float(np.mean(v)) for k, v in out.items()}


def save(model: dict, path: Path | str, meta: dict) -> None:
    data = {"about": "server/style_infer.py's ridge regression from take statistics to the style vector; "
                     "refit with scripts/fit_style_infer", **meta,
            "style_dim": STYLE_DIM, "feature_mean": np.round(model["mean"], 7).tolist(),
            "feature_scale": np.round(model["scale"], 7).tolist(),
            "weights": np.round(model["weights"], 6).tolist(), "bias": np.round(model["bias"], 6).tolist()}
    Path(path).write_text(json.dumps(data, separators=(",", ":")) + "\n")


__all__ = ["infer_style", "infer_file", "read_reference", "predict_vector", "features", "StyleInferenceError",
           "StyleError"]
