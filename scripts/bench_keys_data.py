"""Data for scripts/bench_keys, made in the project .venv (torch): the shipped model's curves on
real speech, and the teacher's on the same speech (forced alignment of the transcript).

    .venv/bin/python scripts/bench_keys_data.py prepare --real DIR --transcripts README --out FILE.json
    .venv/bin/python scripts/bench_keys_data.py score FILE.json WRITTEN.json

``prepare`` writes, at 30 fps (the model's rate, as docs/RESULTS.md): for each file the
evaluation scores (docs/EVALUATION.md: English files with a transcript that aligns) the model's
take (seed 0, default settings, lip-closure guidance on), the teacher on the alignment and the
aligned phones; and ``long``: the model's take on all the folder's files joined end to end
(repeated until it reaches --frames), for timing the writing of 52 channels x 5,000 frames.
``score`` scores the curves that Blender wrote (scripts/bench_keys_blender.py) for lip sync
with the evaluation's own functions: are the p/b/m still closed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FPS = 30.0


def log(message: str) -> None:
    print(f"[bench_keys_data {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def prepare(args) -> None:
    import numpy as np

    from server.audio import SAMPLE_RATE, Audio, load_audio
    from server.engine import Engine, GenerationRequest
    from server.evaluation.references import teacher_on_alignment
    from server.evaluation.speech_set import speech_items
    from server.speech.alignment import AlignmentError, align

    engine = Engine.from_checkpoint(args.checkpoint, device="cpu")
    files = []
    for item in speech_items(args.real, args.transcripts):
        if item.transcript is None:
            log(f"{item.name}: skipped ({item.note})")
            continue
        audio = load_audio(str(item.wav))
        try:
            alignment = align(audio.samples, item.transcript)
        except AlignmentError as error:
            log(f"{item.name}: skipped (alignment failed: {error})")
            continue
        log(f"{item.name}: model and teacher ({audio.duration:.1f} s)")
        model = engine.generate(GenerationRequest(audio=audio, fps=FPS, samples=1, seed=0)).takes[0]
        teacher = teacher_on_alignment(alignment.phones, audio.samples, audio.sample_rate, FPS)
        files.append({"name": item.name, "wav": str(item.wav), "seconds": audio.duration,
                      "phones": [list(p) for p in alignment.phones],
                      "model": np.round(model, 6).tolist(), "teacher": np.round(teacher, 6).tolist()})
    wavs = sorted(Path(args.real).glob("*.wav"))
    parts, names, seconds = [], [], 0.0
    while seconds * FPS < args.frames:
        for wav in wavs:
            audio = load_audio(str(wav))
            parts.append(audio.samples)
            names.append(wav.name)
            seconds += audio.duration
            if seconds * FPS >= args.frames:
                break
    joined = Audio(np.concatenate(parts).astype(np.float32), SAMPLE_RATE)
    log(f"long: model on {len(names)} files joined ({seconds:.1f} s)")
    long = engine.generate(GenerationRequest(audio=joined, fps=FPS, samples=1, seed=0)).takes[0][:args.frames]
    out = {"fps": FPS, "model": engine.info().get("model", ""), "files": files,
           "long": {"audio": names, "seconds": seconds, "frames": np.round(long, 6).tolist()}}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out))
    log(f"wrote {args.out}: {len(files)} files, long {len(long)} frames")


def score(args) -> None:
    import numpy as np

    from server.audio import load_audio
    from server.evaluation import lipsync
    from server.face.lip_opening import lip_opening

    data = json.loads(Path(args.data).read_text())
    written = json.loads(Path(args.written).read_text())
    pooled = {}
    for kind in ("model", "written", "teacher"):
        scores = []
        for item in data["files"]:
            curves = np.array(written[item["name"]] if kind == "written" else item[kind], dtype=np.float64)
            audio = load_audio(item["wav"])
            phones = [tuple(p) for p in item["phones"]]
            scores.append(lipsync.score_lipsync(lip_opening(curves), phones, data["fps"], audio.samples,
                                                audio.sample_rate))
        pooled[kind] = lipsync.pool(scores)
    for kind, s in pooled.items():
        print(f"{kind:8s} closure {s.closure.value:.2f} ({s.closure.hits}/{s.closure.total})  "
              f"open vowels {s.open_vowels.value:.2f}  rest {s.rest.value:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--real", required=True, help="folder of real speech (.wav)")
    p.add_argument("--transcripts", help="transcripts (TSV or README, as scripts/evaluate)")
    p.add_argument("--checkpoint", help="model folder (default: the shipped model)")
    p.add_argument("--frames", type=int, default=5000)
    p.add_argument("--out", required=True)
    s = sub.add_parser("score")
    s.add_argument("data")
    s.add_argument("written")
    args = parser.parse_args()
    prepare(args) if args.command == "prepare" else score(args)


if __name__ == "__main__":
    main()
