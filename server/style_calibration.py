"""Emotion intensity calibration: on every model, intensity 0.5 does half of what 1 does.

The teacher's emotions are linear in intensity (server/teacher/emotion.py), but a trained
model's response to its intensity input is not: the shipped model, asked for 0.5, moved an
emotion's signature channels only 0.29-0.42 of the way it moves them at 1 (docs/RESULTS.md).
An animator's slider must mean what it says, so each checkpoint carries a measured map from the
intensity the animator asks for (u) to the value the denoiser is conditioned on (c):

    response(c) = sum over the emotion's strongest signature channels of the signed mean change
                  of the take against the neutral take, on the same clip and seed
    c(u)        = the inverse of response(c) / response(1), made monotone

``scripts/calibrate_intensity`` measures it (on training-split clips, never the evaluation
clips) and writes it into the checkpoint's config as ``intensity_calibration``; the engine
conditions through it. The style a take reports is always the animator's u, never c.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from server.style import CONTROLS, NON_NEUTRAL, style_vector
from server.teacher.style import Style

# Conditioning levels measured, and the animator's intensities the table is written at.
LEVELS = (0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0)
GRID = tuple(round(0.05 * i, 2) for i in range(21))


def condition_intensity(calibration: dict | None, emotion: str, intensity: float) -> float:
    """The denoiser's intensity input for an animator's ``intensity`` of ``emotion``."""
    if not calibration or emotion not in calibration.get("emotions", {}):
        return float(intensity)
    grid = calibration["grid"]
    return float(np.interp(intensity, grid, calibration["emotions"][emotion]))


def condition_vector(style: Style, calibration: dict | None) -> np.ndarray:
    """``style_vector(style)`` with the emotion's intensity put through the calibration."""
    vector = style_vector(style)
    if style.emotion != "neutral":
        vector[len(CONTROLS) + NON_NEUTRAL.index(style.emotion)] = condition_intensity(
            calibration, style.emotion, style.intensity)
    return vector


def fit(levels, responses) -> list[float]:
    """c at each GRID u from the responses (at ``levels``, the last being 1): the inverse of the
    normalised, monotone response curve through (0, 0)."""
    c = np.concatenate([[0.0], np.asarray(levels, np.float64)])
    r = np.concatenate([[0.0], np.asarray(responses, np.float64)])
    if r[-1] <= 1e-6:
        return list(GRID)  # the model does not respond: leave the slider as it is
    r = np.maximum.accumulate(np.clip(r / r[-1], 0.0, None))
    r = r + np.arange(len(r)) * 1e-9                        # strictly increasing for the inverse
    r = r / r[-1]
    return [round(float(v), 4) for v in np.interp(GRID, r, c)]


def measure_responses(engine, audios, *, seed: int = 0, levels=LEVELS, progress=None) -> dict[str, list[float]]:
    """Per emotion, the mean response over ``audios`` at each conditioning level (no calibration)."""
    from addon.core.arkit import INDEX
    from server.evaluation.style_effects import NEUTRAL, signature_channels
    from server.request import GenerationRequest

    saved, engine.intensity_calibration = engine.intensity_calibration, None
    try:
        def take(audio, **over):
            request = GenerationRequest(audio=audio, fps=engine.fps, samples=1, seed=seed, style={**NEUTRAL, **over})
            return engine.generate(request).takes[0]

        out = {e: np.zeros(len(levels)) for e in NON_NEUTRAL}
        total, done = len(audios) * (1 + len(NON_NEUTRAL) * len(levels)), 0
        for audio in audios:
            neutral = take(audio)
            done += 1
            for emotion in NON_NEUTRAL:
                channels = signature_channels(emotion)
                cols = [INDEX[n] for n, _ in channels]
                signs = np.sign([level for _, level in channels])
                base = neutral[:, cols].mean(axis=0)
                for k, level in enumerate(levels):
                    change = take(audio, emotion=emotion, intensity=float(level))[:, cols].mean(axis=0) - base
                    out[emotion][k] += float(np.sum(change * signs)) / len(audios)
                    done += 1
                    if progress:
                        progress(done, total)
        return {e: [round(float(v), 5) for v in r] for e, r in out.items()}
    finally:
        engine.intensity_calibration = saved


def calibrate(engine, audios, *, seed: int = 0, progress=None) -> dict:
    responses = measure_responses(engine, audios, seed=seed, progress=progress)
    return {"grid": list(GRID), "levels": list(LEVELS), "responses": responses,
            "emotions": {e: fit(LEVELS, r) for e, r in responses.items()},
            "clips": len(audios), "seconds": round(sum(a.duration for a in audios), 1), "seed": seed}


def write_into_checkpoint(checkpoint, calibration: dict) -> Path:
    import os

    from server.checkpoint import CONFIG, read_config

    path, config = read_config(checkpoint)
    config["intensity_calibration"] = calibration
    tmp = path / (CONFIG + ".tmp")
    tmp.write_text(json.dumps(config, indent=2))
    os.replace(tmp, path / CONFIG)
    return path / CONFIG


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="calibrate_intensity", description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", required=True, help="checkpoint to calibrate (its config.json is rewritten)")
    parser.add_argument("--corpus", default="data/corpus", help="corpus whose training-split clips to measure on")
    parser.add_argument("--items", type=int, default=6, help="clips (default 6)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from tqdm import tqdm

    from server.audio import load_audio
    from server.engine import Engine
    from server.training.data import read_manifest

    engine = Engine.from_checkpoint(args.checkpoint, device="cpu")
    if not engine.style_dim:
        print("calibrate_intensity: this model has no style input", file=sys.stderr)
        return 2
    rows = [r for r in read_manifest(args.corpus, "train") if r.get("augment") is None]
    rows = [rows[i] for i in np.random.default_rng(args.seed).permutation(len(rows))[: args.items]]
    audios = [load_audio(str(Path(args.corpus) / r["wav"])) for r in rows]
    bar = tqdm(desc="calibrating intensity", unit="take")

    def progress(done, total):
        bar.total = total
        bar.update(done - bar.n)

    started = time.time()
    calibration = calibrate(engine, audios, seed=args.seed, progress=progress)
    bar.close()
    calibration["minutes"] = round((time.time() - started) / 60, 1)
    out = write_into_checkpoint(args.checkpoint, calibration)
    for emotion, table in calibration["emotions"].items():
        r = np.asarray(calibration["responses"][emotion])
        print(f"{emotion:10s} response at 0.5 = {r[LEVELS.index(0.5)] / max(r[-1], 1e-9):.2f} of 1; "
              f"intensity 0.5 now conditions at {table[GRID.index(0.5)]:.3f}")
    print(f"written into {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
