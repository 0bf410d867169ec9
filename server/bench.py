"""Benchmark of the engine (run by scripts/bench): compute time per audio second and peak memory.

Each case runs in a fresh process so its peak resident memory (ru_maxrss) is its own. The
audio is the shipped sample sentence repeated to length with short pauses.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

SAMPLE = Path(__file__).resolve().parent / "samples" / "hello.wav"


def _audio_of_length(seconds: float):
    import numpy as np
    import soundfile as sf

    from server.audio import SAMPLE_RATE, Audio, load_audio

    base = load_audio(str(SAMPLE)).samples
    piece = np.concatenate([base, np.zeros(8000, np.float32)])
    reps = int(np.ceil(seconds * SAMPLE_RATE / len(piece)))
    return Audio(samples=np.tile(piece, reps)[: int(seconds * SAMPLE_RATE)])


def _helper_peak_mb() -> float:
    """Peak memory of the speech helper processes (server/speech/pool.py), together."""
    from server.speech.pool import POOL

    total = 0.0
    for helper in POOL.helpers():
        try:
            status = Path(f"/proc/{helper.pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1]) / 1024
    return total


def run_case(checkpoint, seconds: float, samples: int, threads: int) -> dict:
    import resource

    import torch

    from server.engine import Engine, GenerationRequest

    torch.set_num_threads(threads)
    os.environ["MOUTHPIECE_THREADS"] = str(threads)
    engine = Engine.from_checkpoint(checkpoint, device="cpu")
    audio = _audio_of_length(seconds)
    engine.generate(GenerationRequest(audio=_audio_of_length(2.0), steps=2))  # warm-up
    started = time.perf_counter()
    # Recognition first (the engine caches it per clip, so generate() then reuses it): the table
    # shows its share, which a second take or an edit of the same line does not pay again.
    engine.recognise(audio)
    recognition = time.perf_counter() - started
    result = engine.generate(GenerationRequest(audio=audio, samples=samples))
    elapsed = time.perf_counter() - started
    return {"seconds_audio": seconds, "samples": samples, "steps": result.steps, "guidance": result.guidance,
            "compute_s": round(elapsed, 2), "compute_per_audio_s": round(elapsed / seconds, 4),
            "recognition_s": round(recognition, 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 + _helper_peak_mb(), 1),
            "model": engine.info()["model"], "threads": threads}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="scripts/bench", description=__doc__)
    p.add_argument("--checkpoint", default=None, help="model checkpoint (default: the shipped model)")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--case", help=argparse.SUPPRESS)  # internal: seconds,samples
    args = p.parse_args(argv)
    if args.case:
        seconds, samples = args.case.split(",")
        print(json.dumps(run_case(args.checkpoint, float(seconds), int(samples), args.threads)))
        return 0
    cases = [(30.0, 1), (30.0, 8), (600.0, 1)]
    rows = []
    for seconds, samples in cases:
        cmd = [sys.executable, "-m", "server.bench", "--case", f"{seconds},{samples}", "--threads", str(args.threads)]
        if args.checkpoint:
            cmd += ["--checkpoint", args.checkpoint]
        print(f"running {seconds:g} s of audio, {samples} take(s)...", file=sys.stderr, flush=True)
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            print(out.stderr, file=sys.stderr)
            return out.returncode
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    r0 = rows[0]
    print(f"model {r0['model']}, {r0['steps']} steps, guidance {r0['guidance']:g}, CPU threads {args.threads}")
    print("| audio | takes | compute (s) | of which speech recognition (s) | s per s of audio "
          "| peak memory, sidecar + speech helpers (MB) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['seconds_audio']:g} s | {r['samples']} | {r['compute_s']} | {r['recognition_s']} | "
              f"{r['compute_per_audio_s']} | {r['peak_rss_mb']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
