"""Benchmark of the engine (run by scripts/bench): what a new clip costs, where its time goes, memory.

    scripts/bench [--checkpoint DIR] [--threads N] [--cases 60x1,60x8,600x1,60x1:en,60x8:en]
                  [--audio speech|sample] [--markdown]

A case is SECONDSxTAKES[:LANGUAGE]: that much audio, that many takes, the request's language
("auto" unless given; "en" adds the English word recogniser also for a model with a closure
detector). Each case runs in a fresh process, so its peak resident memory (ru_maxrss, plus the
recognition helper's) is its own, and with the model's default settings (steps, guidance, lip
closure). After loading the model and one short warm-up generation (which also starts the
recognition helper, as a running sidecar has), the clock covers everything a new clip costs:
decoding the WAV file's bytes as the sidecar does, recognition when it runs (the engine caches
it per clip; a new clip pays it), the audio encoder, the closure detector, sampling, resampling
and harmonizing.

The profile is taken in the same run by wrapping the engine's functions in the bench process
(nothing in the engine changes): seconds per stage, exclusive of the stages nested inside it.

The audio ("--audio speech", the default) is espeak-ng speech of varied English sentences
(server/corpus/text.py) in several voices, with pauses between sentences, made once and cached
under .cache/bench; "--audio sample" is the shipped sample sentence repeated to length.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import functools
import io
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = Path(__file__).resolve().parent / "samples" / "hello.wav"
CACHE = Path(os.environ.get("MOUTHPIECE_BENCH_CACHE", ROOT / ".cache" / "bench"))
DEFAULT_CASES = "60x1,60x8,600x1,60x1:en,60x8:en"
SPEECH_VOICES = ("en-us", "en-gb", "en-us+f3", "en-gb-x-rp+m2", "en-029+f2", "en-us-nyc+m3")
SPEECH_VERSION = 2  # bump when the speech recipe changes (the cache key)
# The goals (issue 14) and a reference point, printed beside the figures.
GOAL_ONE_TAKE_S, GOAL_EIGHT_TAKES_S = 1.0, 4.0
RHUBARB_S_PER_S = 0.40

# Profile rows, in pipeline order: (key, label).
STAGES = [
    ("decode", "decode audio (WAV bytes -> 16 kHz)"),
    ("recognition", "recognition (English words, helper process)"),
    ("encode", "encode audio (log-mel + encoder)"),
    ("detector", "closure detector"),
    ("envelopes", "closure/opening envelopes"),
    ("denoiser", "denoiser passes"),
    ("guidance", "guidance + windows (outside the denoiser)"),
    ("projections", "closure/opening projections"),
    ("inpainting", "inpainting (known values)"),
    ("ddim", "DDIM steps"),
    ("resample", "resample to output fps"),
    ("harmonize", "harmonize"),
    ("other", "other (noise, conditions, copies)"),
]


# --- audio ---------------------------------------------------------------------------------------


def _speech_clip(seconds: float) -> Path:
    """A WAV of espeak-ng speech (varied sentences, several voices) at least ``seconds`` long, cached."""
    import numpy as np
    import soundfile as sf

    from server.audio import resample
    from server.corpus.text import utterance

    # One long clip, cut to length: every case hears the same speech from the start.
    length = max(600.0, math.ceil(seconds / 60.0) * 60.0)
    path = CACHE / f"speech-v{SPEECH_VERSION}-{length:g}s.wav"
    if path.is_file():
        return path
    if shutil.which("espeak-ng") is None:
        raise SystemExit("scripts/bench: espeak-ng is not installed (apt-get install espeak-ng); "
                         "or use --audio sample")
    CACHE.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rate = 22050
    pieces, total, i = [], 0, 0
    with tempfile.TemporaryDirectory() as tmp:
        while total < length * rate:
            text = " ".join(" ".join(utterance(rng)) for _ in range(6))
            wav = Path(tmp) / f"{i}.wav"
            subprocess.run(["espeak-ng", "-v", SPEECH_VOICES[i % len(SPEECH_VOICES)], "-s",
                            str(int(rng.integers(140, 190))), "-g", "6", "-w", str(wav), text],
                           check=True, capture_output=True)
            x, sr = sf.read(wav, dtype="float32")
            x = resample(x, sr, rate) if sr != rate else x
            pause = np.zeros(int(rate * rng.uniform(0.3, 1.2)), np.float32)
            pieces += [x, pause]
            total += len(x) + len(pause)
            i += 1
    samples = np.concatenate(pieces)[: int(length * rate)]
    part = path.with_suffix(".part.wav")
    sf.write(part, samples, rate, subtype="PCM_16")
    part.rename(path)
    return path


def clip_bytes(seconds: float, kind: str) -> bytes:
    """The bytes of a WAV file of ``seconds`` of audio, as a client would send them."""
    import numpy as np
    import soundfile as sf

    if kind == "speech":
        path = _speech_clip(seconds)
        rate = sf.info(path).samplerate
        x, _ = sf.read(path, dtype="float32", frames=round(seconds * rate))
    elif kind == "sample":
        base, rate = sf.read(SAMPLE, dtype="float32")
        base = base.mean(axis=1) if base.ndim > 1 else base
        piece = np.concatenate([base, np.zeros(rate // 2, np.float32)])
        x = np.tile(piece, int(np.ceil(seconds * rate / len(piece))))[: round(seconds * rate)]
    else:
        raise ValueError(f"audio {kind!r}: expected speech or sample")
    buf = io.BytesIO()
    sf.write(buf, x, rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def describe_audio(kind: str) -> str:
    if kind == "speech":
        return (f"espeak-ng speech, varied English sentences in {len(SPEECH_VOICES)} voices with pauses "
                f"(22.05 kHz WAV, cached in {CACHE.relative_to(ROOT) if CACHE.is_relative_to(ROOT) else CACHE})")
    return "the shipped sample sentence (server/samples/hello.wav) repeated to length with pauses"


# --- profile -------------------------------------------------------------------------------------


class Profile:
    """Seconds per stage, each exclusive of the stages nested inside it; denoiser calls and batch."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.denoiser_calls = 0
        self.denoiser_batch = 0  # sum of the batch sizes the denoiser was called with
        self._stack: list[float] = []

    @contextlib.contextmanager
    def stage(self, name: str):
        start = time.perf_counter()
        self._stack.append(0.0)
        try:
            yield
        finally:
            inner = self._stack.pop()
            spent = time.perf_counter() - start
            self.seconds[name] += spent - inner
            self.calls[name] += 1
            if self._stack:
                self._stack[-1] += spent

    def wrap(self, fn, name: str):
        @functools.wraps(fn)
        def timed(*args, **kwargs):
            with self.stage(name):
                return fn(*args, **kwargs)

        return timed

    def wrap_maker(self, maker, name: str):
        """A wrapper-maker (``with_closures(model_fn, ...) -> model_fn``) whose callables are timed."""

        @functools.wraps(maker)
        def make(*args, **kwargs):
            return self.wrap(maker(*args, **kwargs), name)

        return make


def instrument(engine, profile: Profile) -> None:
    """Time the engine's stages by wrapping its functions (in this process only)."""
    import server.diffusion.sample as sample_mod
    import server.engine as engine_mod

    engine.recognise = profile.wrap(engine.recognise, "recognition")
    engine.audio_features = profile.wrap(engine.audio_features, "encode")
    engine.encode_audio = profile.wrap(engine.encode_audio, "encode")
    engine.closure_probability = profile.wrap(engine.closure_probability, "detector")
    denoiser = engine.model.denoiser
    forward = denoiser.forward

    def denoise(x_t, *args, **kwargs):
        profile.denoiser_calls += 1
        profile.denoiser_batch += int(x_t.shape[0])
        return forward(x_t, *args, **kwargs)

    denoiser.forward = profile.wrap(denoise, "denoiser")
    for name in ("closure_envelope", "detector_envelope", "opening_envelope", "_probability_at"):
        setattr(engine_mod, name, profile.wrap(getattr(engine_mod, name), "envelopes"))
    for name in ("guided", "windowed"):
        setattr(engine_mod, name, profile.wrap_maker(getattr(engine_mod, name), "guidance"))
    for name in ("with_closures", "with_openings"):
        setattr(engine_mod, name, profile.wrap_maker(getattr(engine_mod, name), "projections"))
    engine_mod.closed_at_output_rate = profile.wrap(engine_mod.closed_at_output_rate, "projections")
    engine_mod.inpainted = profile.wrap_maker(engine_mod.inpainted, "inpainting")
    for name in ("known_at_output", "known_at_model_rate", "pinned_at_output"):
        setattr(engine_mod, name, profile.wrap(getattr(engine_mod, name), "inpainting"))
    sample_mod.ddim_step = profile.wrap(sample_mod.ddim_step, "ddim")
    engine_mod.resample_curves = profile.wrap(engine_mod.resample_curves, "resample")
    engine_mod.harmonize = profile.wrap(engine_mod.harmonize, "harmonize")


# --- one case, in its own process ----------------------------------------------------------------


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


def run_case(checkpoint, seconds: float, samples: int, language: str, threads: int | None,
             audio_kind: str = "speech") -> dict:
    import resource

    import torch

    from server.api.prepare import decode_audio
    from server.engine import WINDOW_FRAMES, Engine, GenerationRequest
    from server.timebase import num_frames

    if threads:
        torch.set_num_threads(threads)  # as the sidecar's --threads does
    engine = Engine.from_checkpoint(checkpoint, device="cpu")
    wav = base64.b64encode(clip_bytes(seconds, audio_kind)).decode("ascii")  # what a client sends
    warm = base64.b64encode(clip_bytes(2.0, audio_kind)).decode("ascii")
    engine.generate(GenerationRequest(audio=decode_audio(warm, 3.0), steps=2, language=language))  # warm-up

    profile = Profile()
    instrument(engine, profile)
    profile.reset()
    started = time.perf_counter()
    with profile.stage("other"):
        with profile.stage("decode"):
            audio = decode_audio(wav, seconds + 1.0)
        result = engine.generate(GenerationRequest(audio=audio, samples=samples, language=language))
    elapsed = time.perf_counter() - started

    t_model = num_frames(audio.duration, engine.fps)
    windows = math.ceil(t_model / WINDOW_FRAMES) if t_model > WINDOW_FRAMES else 1
    stages = {key: round(profile.seconds.get(key, 0.0), 6) for key, _ in STAGES}
    ran_recognition = "recogniser" in result.closure_sources
    return {"seconds_audio": seconds, "samples": samples, "language": language, "steps": result.steps,
            "guidance": result.guidance, "lip_closure": result.lip_closure,
            "closure_sources": result.closure_sources, "recognition_ran": ran_recognition,
            "compute_s": round(elapsed, 3), "x_real_time": round(seconds / elapsed, 2),
            "compute_per_audio_s": round(elapsed / seconds, 4),
            "recognition_s": stages["recognition"] if ran_recognition else None,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 + _helper_peak_mb(), 1),
            "profile": stages, "stage_calls": {key: profile.calls.get(key, 0) for key, _ in STAGES},
            "denoiser_calls": profile.denoiser_calls, "windows": windows,
            "denoiser_passes": round(profile.denoiser_batch / samples / windows, 2),
            "model": engine.info()["model"], "closure_detector": engine.model.closure_detector is not None,
            "distilled": bool(engine.distilled), "threads": torch.get_num_threads(),
            "audio": audio_kind}


# --- the table -----------------------------------------------------------------------------------


def parse_cases(text: str) -> list[tuple[float, int, str]]:
    cases = []
    for token in filter(None, (t.strip() for t in text.split(","))):
        spec, _, language = token.partition(":")
        try:
            seconds, _, takes = spec.lower().partition("x")
            case = (float(seconds), int(takes or 1), language or "auto")
        except ValueError:
            raise SystemExit(f"scripts/bench: case {token!r}: expected SECONDSxTAKES[:LANGUAGE], e.g. 60x8:en")
        if case[0] <= 0 or case[1] < 1:
            raise SystemExit(f"scripts/bench: case {token!r}: seconds and takes must be positive")
        cases.append(case)
    if not cases:
        raise SystemExit("scripts/bench: --cases is empty")
    return cases


def _name(r) -> str:
    return f"{r['seconds_audio']:g} s x{r['samples']} {r['language']}"


def _table(header: list[str], rows: list[list[str]], markdown: bool) -> list[str]:
    if markdown:
        return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + \
               ["| " + " | ".join(row) + " |" for row in rows]
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]

    def fmt(row):
        return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(row, widths)))

    return [fmt(header), fmt(["-" * w for w in widths])] + [fmt(row) for row in rows]


def report(rows: list[dict], *, command: str, audio: str, markdown: bool) -> str:
    r0 = rows[0]
    lines = []
    if markdown:
        lines += [f"Made by `{command}` on this machine ({os.cpu_count()} CPU cores).", ""]
    else:
        lines += [f"command: {command}"]
    lines += [(f"model {r0['model']}{' (distilled)' if r0['distilled'] else ''}: {r0['steps']} steps, guidance "
               f"{r0['guidance']:g}, lip closure {r0['lip_closure']:g} (its defaults); closure detector: "
               f"{'yes' if r0['closure_detector'] else 'no'}; CPU cores {os.cpu_count()}, torch threads "
               f"{r0['threads']} (the engine uses 1 for jobs under 4096 frames x takes)"),
              f"audio: {describe_audio(audio)}", ""]
    header = ["audio", "language", "takes", "closures from", "compute (s)", "x real time", "s per s of audio",
              "of which recognition (s)", "peak memory, sidecar + helper (MB)"]
    table = [[f"{r['seconds_audio']:g} s", r["language"], str(r["samples"]), " + ".join(r["closure_sources"]) or "-",
              f"{r['compute_s']:.2f}", f"{r['x_real_time']:.1f}", f"{r['compute_per_audio_s']:.3f}",
              "-" if r["recognition_s"] is None else f"{r['recognition_s']:.2f}", f"{r['peak_rss_mb']:.0f}"]
             for r in rows]
    lines += _table(header, table, markdown)

    lines += ["", "Profile, seconds per stage (each exclusive of the stages inside it):", ""]
    header = ["stage"] + [_name(r) for r in rows]
    def cell(r, key):
        if (key == "recognition" and not r["recognition_ran"]) or (key == "detector" and not r["closure_detector"]):
            return "-"  # did not run
        return f"{r['profile'][key]:.3f}"

    table = [[label] + [cell(r, key) for r in rows] for key, label in STAGES]
    table.insert([k for k, _ in STAGES].index("denoiser") + 1,
                 ["  denoiser passes per take (calls)"] +
                 [f"{r['denoiser_passes']:g} ({r['denoiser_calls']})" for r in rows])
    table.append(["total"] + [f"{r['compute_s']:.3f}" for r in rows])
    lines += _table(header, table, markdown)

    notes = []
    for r in rows:
        if r["seconds_audio"] == 60 and r["samples"] in (1, 8):
            goal = GOAL_ONE_TAKE_S if r["samples"] == 1 else GOAL_EIGHT_TAKES_S
            verdict = "met" if r["compute_s"] <= goal else f"{r['compute_s'] / goal:.1f}x over"
            notes.append(f"60 s, {r['samples']} take(s), {r['language']}: {r['compute_s']:.2f} s, "
                         f"{r['x_real_time']:.1f}x real time (issue 14's goal: {goal:g} s; {verdict})")
    longest = max(rows, key=lambda r: r["seconds_audio"])
    short = [r for r in rows if r["seconds_audio"] < longest["seconds_audio"] and r["samples"] == longest["samples"]
             and r["language"] == longest["language"]]
    if short:
        s = min(short, key=lambda r: r["seconds_audio"])
        notes.append(f"peak memory: {longest['peak_rss_mb']:.0f} MB at {longest['seconds_audio']:g} s against "
                     f"{s['peak_rss_mb']:.0f} MB at {s['seconds_audio']:g} s ({longest['language']}, "
                     f"{longest['samples']} take)")
    notes.append(f"for comparison: Rhubarb Lip Sync, {RHUBARB_S_PER_S} s per second of audio on this machine")
    lines += [""] + [f"- {n}" if markdown else n for n in notes]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="scripts/bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default=None, help="model checkpoint directory (default: the shipped "
                   "model); a distilled student (config.json with \"distilled\") runs its own defaults")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads, as the sidecar's --threads (default: torch's, one per core)")
    p.add_argument("--cases", default=DEFAULT_CASES,
                   help=f"comma-separated SECONDSxTAKES[:LANGUAGE] (default {DEFAULT_CASES})")
    p.add_argument("--audio", choices=("speech", "sample"), default="speech",
                   help="espeak-ng speech of varied sentences (default), or the shipped sample repeated")
    p.add_argument("--markdown", action="store_true", help="print tables ready for docs/RESULTS.md")
    p.add_argument("--json", action="store_true", help="also print each case's figures as one JSON line")
    p.add_argument("--case", help=argparse.SUPPRESS)  # internal: seconds,samples[,language]
    args = p.parse_args(argv)
    if args.case:
        seconds, samples, *language = args.case.split(",")
        print(json.dumps(run_case(args.checkpoint, float(seconds), int(samples), (language or ["auto"])[0],
                                  args.threads, args.audio)))
        return 0
    cases = parse_cases(args.cases)
    if args.audio == "speech":
        _speech_clip(max(s for s, _, _ in cases))  # made once, before any case is timed
    rows = []
    for seconds, samples, language in cases:
        cmd = [sys.executable, "-m", "server.bench", "--case", f"{seconds},{samples},{language}",
               "--audio", args.audio]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        if args.checkpoint:
            cmd += ["--checkpoint", str(args.checkpoint)]
        print(f"running {seconds:g} s of audio, {samples} take(s), language {language}...", file=sys.stderr, flush=True)
        out = subprocess.run(cmd, check=False, capture_output=True, text=True, cwd=ROOT)
        if out.returncode != 0:
            print(out.stderr, file=sys.stderr)
            return out.returncode
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    command = "scripts/bench" + "".join(f" {a}" for a in (argv if argv is not None else sys.argv[1:]))
    print(report(rows, command=command, audio=args.audio, markdown=args.markdown))
    if args.json:
        for r in rows:
            print(json.dumps(r))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
