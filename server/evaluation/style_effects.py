"""``scripts/evaluate_style``: what each performance control does to the model's takes.

    scripts/evaluate_style [--checkpoint P] [--real DIR] [--heldout CORPUS] [--items N] [--matches N]

On each clip (held-out synthetic voices and/or real speech) it generates the same line with
one control changed at a time, every other control held at the neutral speaker, and reports:

- articulation 0.5 against 2.0: the mean lip opening over speech frames (loud frames), and the ratio;
- smile 1 against -1: mean mouthSmile and mouthFrown;
- each emotion at intensity 1 and 0.5 against neutral: the change of the emotion's strongest
  signature channels (server/teacher/emotion_signatures.json), whether it has the signature's
  sign, and the ratio of the 0.5 change to the 1 change;
- matching: styles drawn at random over the whole range, generated, then inferred back from the
  curves alone (server/style_infer.py, what `mouthpiece style` prints): the mean absolute error per
  control and the share of emotions named right.

Progress goes to stderr; a markdown table to stdout.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from addon.core.arkit import INDEX
from server.audio import SAMPLE_RATE
from server.face.lip_opening import lip_opening
from server.speech.language import UNDETERMINED
from server.style import CONTROLS, NON_NEUTRAL, public_dict
from server.teacher.style import Style

FPS = 30.0
TOP_CHANNELS = 4
NEUTRAL = public_dict(Style.neutral())


def log(message: str) -> None:
    print(f"[evaluate_style {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def speech_frames(samples: np.ndarray, n_frames: int, sample_rate: int = SAMPLE_RATE, floor_db: float = 30.0) -> np.ndarray:
    """Frames whose loudness is within ``floor_db`` of the clip's loud level: where speech is."""
    hop = sample_rate / FPS
    rms = np.array([np.sqrt(np.mean(samples[int(i * hop):int((i + 1) * hop)].astype(np.float64) ** 2) + 1e-12)
                    for i in range(n_frames)])
    db = 20 * np.log10(rms + 1e-9)
    return db >= np.percentile(db, 95) - floor_db


def signature_channels(emotion: str, k: int = TOP_CHANNELS) -> list[tuple[str, float]]:
    from server.teacher.emotion import emotion_signatures

    channels = emotion_signatures()["emotions"][emotion]["channels"]
    ranked = sorted(channels.items(), key=lambda kv: -abs(kv[1]["level"]))
    return [(name, float(c["level"])) for name, c in ranked[:k] if abs(c["level"]) > 0]


def _generate(engine, audio, style: dict, seed: int, style_guidance: float | None, language: str = "auto") -> np.ndarray:
    from server.engine import GenerationRequest

    request = GenerationRequest(audio=audio, fps=FPS, samples=1, seed=seed, style=style,
                                style_guidance=style_guidance, language=language)
    return engine.generate(request).takes[0]


def measure_clip(engine, audio, seed: int, style_guidance: float | None) -> dict:
    """Every control's figures on one clip."""
    gen = lambda **over: _generate(engine, audio, {**NEUTRAL, **over}, seed, style_guidance)  # noqa: E731
    out: dict = {}
    neutral = gen()
    speech = speech_frames(audio.samples, len(neutral))
    for a in (0.5, 2.0):
        out[f"articulation_{a}"] = float(lip_opening(gen(articulation=a))[speech].mean())
    for s in (-1.0, 1.0):
        c = gen(smile=s)
        out[f"smile_{s}"] = (float(c[:, [INDEX["mouthSmileLeft"], INDEX["mouthSmileRight"]]].mean()),
                             float(c[:, [INDEX["mouthFrownLeft"], INDEX["mouthFrownRight"]]].mean()))
    for emotion in NON_NEUTRAL:
        channels = signature_channels(emotion)
        cols = [INDEX[n] for n, _ in channels]
        signs = np.sign([lvl for _, lvl in channels])
        base = neutral[:, cols].mean(axis=0)
        full = gen(emotion=emotion, intensity=1.0)[:, cols].mean(axis=0) - base
        half = gen(emotion=emotion, intensity=0.5)[:, cols].mean(axis=0) - base
        out[f"emotion_{emotion}"] = {"channels": [n for n, _ in channels], "full": (full * signs).tolist(),
                                     "half": (half * signs).tolist(),
                                     "signature": [lvl for _, lvl in channels]}
    return out


def reference_audio(audios, i: int, seconds: float):
    """Clip i (cycling), or, with ``seconds``, clips i, i+1, ... joined until that long: a longer
    reference holds more of the blinks, saccades and brow raises its event rates are read from."""
    from server.audio import joined

    parts, total, k = [], 0.0, i
    while not parts or total < seconds:
        parts.append(audios[k % len(audios)])
        total += parts[-1].duration
        k += 1
    return joined(parts)


def measure_matching(engine, audios, count: int, style_guidance: float | None, seconds: float = 0.0) -> dict:
    from server.style_infer import infer_style

    rng = np.random.default_rng(7)
    errors = {k: [] for k in CONTROLS}
    intensity_errors, right, lengths = [], 0, []
    for i in range(count):
        style = public_dict(Style.random_broad(rng))
        audio = reference_audio(audios, i, seconds)
        lengths.append(audio.duration)
        # The model's closure detector alone (language "und"): the word recogniser would only add
        # time here, on references joined to a minute.
        curves = _generate(engine, audio, style, 1000 + i, style_guidance, language=UNDETERMINED)
        found = public_dict(infer_style(curves, FPS))
        for k in CONTROLS:
            errors[k].append(abs(found[k] - style[k]))
        right += found["emotion"] == style["emotion"]
        intensity_errors.append(abs(found["intensity"] - style["intensity"]))
        if (i + 1) % 5 == 0:
            log(f"matching: {i + 1}/{count}")
    return {"errors": {k: float(np.mean(v)) for k, v in errors.items()},
            "mean_error": float(np.mean([np.mean(v) for v in errors.values()])),
            "emotion_right": right / count, "intensity_error": float(np.mean(intensity_errors)), "count": count,
            "seconds": (float(np.min(lengths)), float(np.max(lengths)))}


def pooled_table(per_clip: list[dict], label: str) -> list[str]:
    rows = []
    lo = np.mean([c["articulation_0.5"] for c in per_clip])
    hi = np.mean([c["articulation_2.0"] for c in per_clip])
    rows.append(f"| {label} | articulation 0.5 → 2.0: mean lip opening in speech | {lo:.3f} → {hi:.3f} "
                f"(x{hi / max(lo, 1e-9):.2f}) | ≥ 1.5x |")
    sm = np.mean([c["smile_1.0"] for c in per_clip], axis=0)
    fr = np.mean([c["smile_-1.0"] for c in per_clip], axis=0)
    rows.append(f"| {label} | smile -1 → 1: mouthSmile · mouthFrown | {fr[0]:.3f} · {fr[1]:.3f} → "
                f"{sm[0]:.3f} · {sm[1]:.3f} | apart |")
    for emotion in NON_NEUTRAL:
        key = f"emotion_{emotion}"
        full = np.mean([c[key]["full"] for c in per_clip], axis=0)
        half = np.mean([c[key]["half"] for c in per_clip], axis=0)
        names = per_clip[0][key]["channels"]
        sig = per_clip[0][key]["signature"]
        moved = sum(f > 0.02 for f in full)
        ratio = float(np.sum(half) / np.sum(full)) if np.sum(full) > 1e-6 else float("nan")
        detail = ", ".join(f"{n} {s:+.2f}→{f * np.sign(s):+.2f}" for n, s, f in zip(names, sig, full))
        rows.append(f"| {label} | {emotion} at 1 (signature → change vs neutral) | {detail}; "
                    f"{moved}/{len(names)} moved its way; 0.5 gives {ratio:.2f} of 1 | its way; ~0.5 |")
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="evaluate_style", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="model checkpoint (default: the shipped model)")
    parser.add_argument("--real", help="folder of real speech .wav files")
    parser.add_argument("--heldout", help="corpus folder whose held-out voices to use (e.g. data/corpus)")
    parser.add_argument("--items", type=int, default=8, help="clips per source (default 8)")
    parser.add_argument("--matches", type=int, default=30, help="random styles for the matching figure")
    parser.add_argument("--match-seconds", type=float, action="append",
                        help="matching references at least this long (clips joined; repeatable: one row each; "
                             "default: one clip each)")
    parser.add_argument("--style-guidance", type=float, default=None, help="style guidance (default: the model's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--matching-only", action="store_true", help="only the matching figure")
    args = parser.parse_args(argv)
    if not (args.real or args.heldout):
        parser.error("give --real DIR and/or --heldout CORPUS_DIR")

    from server.audio import load_audio
    from server.engine import Engine

    engine = Engine.from_checkpoint(args.checkpoint, device="cpu")
    if not engine.style_dim:
        print("evaluate_style: this model has no style input", file=sys.stderr)
        return 2
    sources: dict[str, list] = {}
    if args.heldout:
        from server.evaluation.heldout import heldout_items

        items = heldout_items(args.heldout, args.items)
        sources["held-out synthetic voices"] = [load_audio(str(Path(args.heldout) / "items" / f"{i['id']}.wav"))
                                                for i in items]
    if args.real:
        wavs = sorted(Path(args.real).glob("*.wav"))[: args.items]
        sources["real speech"] = [load_audio(str(w)) for w in wavs]
    lines = ["| data | figure | measured | target |", "|---|---|---|---|"]
    all_audio = []
    for label, audios in sources.items():
        all_audio += audios
        if args.matching_only:
            continue
        per_clip = []
        for n, audio in enumerate(audios, 1):
            per_clip.append(measure_clip(engine, audio, args.seed, args.style_guidance))
            log(f"{label}: {n}/{len(audios)}")
        seconds = sum(a.duration for a in audios)
        lines += pooled_table(per_clip, f"{label} ({len(audios)} clips, {seconds:.0f} s)")
    for seconds in (args.match_seconds or [0.0]) if args.matches else []:
        m = measure_matching(engine, all_audio, args.matches, args.style_guidance, seconds)
        detail = ", ".join(f"{k} {v:.2f}" for k, v in m["errors"].items())
        lo, hi = m["seconds"]
        label = f"references of {lo:.0f}-{hi:.0f} s"
        lines.append(f"| {label} | matching: set → generate → infer, mean abs error ({m['count']} styles) | "
                     f"{m['mean_error']:.3f} ({detail}) | ≤ 0.2 |")
        lines.append(f"| {label} | matching: emotion named right · intensity error | "
                     f"{m['emotion_right']:.2f} · {m['intensity_error']:.2f} | |")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
