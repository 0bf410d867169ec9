"""Sampling settings against the real-speech figures: how the steps and the guidance scale
trade lip-sync quality for speed. It chose the shipped model's defaults (docs/RESULTS.md).

    python -m server.evaluation.sweep --checkpoint DIR --real DIR --transcripts FILE \
        [--steps 10,20] [--guidance 1,1.5,2.5] [--lip-closure 1] [--seeds 2]

Alignments are computed once per file; each setting is scored on every file with `--seeds`
different seeds (pooled), so a setting's figure is not one lucky draw.
"""

from __future__ import annotations

import argparse
import sys
import time


def main(argv=None) -> int:
    from server.audio import load_audio
    from server.engine import Engine, GenerationRequest
    from server.evaluation import lipsync
    from server.speech.alignment import AlignmentError, align
    from server.face.lip_opening import lip_opening
    from server.evaluation.speech_set import speech_items

    p = argparse.ArgumentParser(prog="python -m server.evaluation.sweep", description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint")
    p.add_argument("--real", required=True)
    p.add_argument("--transcripts")
    p.add_argument("--steps", default="10,20")
    p.add_argument("--guidance", default="1,1.5,2.5")
    p.add_argument("--lip-closure", default="1", help="lip-closure guidance strengths, e.g. 0,0.5,1")
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--fps", type=float, default=30.0)
    args = p.parse_args(argv)
    engine = Engine.from_checkpoint(args.checkpoint)
    files = []
    for item in speech_items(args.real, args.transcripts):
        if item.transcript is None:
            continue
        audio = load_audio(str(item.wav))
        try:
            files.append((audio, align(audio.samples, item.transcript).phones))
        except AlignmentError:
            continue
        print(f"aligned {item.name}", file=sys.stderr, flush=True)
    seconds = sum(a.duration for a, _ in files)
    print(f"{len(files)} files, {seconds:.1f} s; model {engine.info()['model']}")
    print("| steps | guidance | lip closure | closure | open vowels | rest | sync r @ lag | compute s per s |")
    print("|---|---|---|---|---|---|---|---|")
    settings = [(int(st), float(g), float(lc)) for st in args.steps.split(",") for g in args.guidance.split(",")
                for lc in args.lip_closure.split(",")]
    for steps, guidance, lip_closure in settings:
        scores, started = [], time.perf_counter()
        for seed in range(args.seeds):
            for audio, phones in files:
                take = engine.generate(GenerationRequest(audio=audio, fps=args.fps, seed=seed, steps=steps,
                                                         guidance=guidance, lip_closure=lip_closure)).takes[0]
                scores.append(lipsync.score_lipsync(lip_opening(take), phones, args.fps, audio.samples,
                                                    audio.sample_rate))
        # Recognition is cached per audio after the first setting, so this is the sampling's cost.
        elapsed = (time.perf_counter() - started) / (seconds * args.seeds)
        s = lipsync.pool(scores)
        print(f"| {steps} | {guidance:g} | {lip_closure:g} | {s.closure.value:.2f} | {s.open_vowels.value:.2f} | "
              f"{s.rest.value:.2f} | {s.sync.correlation:.2f} @ {s.sync.lag_ms:+.0f} ms | {elapsed:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
