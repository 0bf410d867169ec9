"""``scripts/evaluate``: every evaluation figure in one markdown table, references side by side.

    scripts/evaluate [--checkpoint P] [--real DIR [--transcripts TSV|README.md] [--use-transcripts]] [--mesh DIR]
                     [--heldout data/corpus] [--samples 8] [--out docs/RESULTS.md]

Columns: the model (from audio alone, as shipped: with lip-closure guidance at the p/b/m that
speech recognition finds), the same model with that guidance off (the denoiser alone), the
teacher on the forced alignment (transcript-driven ceiling), a jaw that follows loudness
(floor), with --use-transcripts the model given each file's transcript (closures and open vowels
aligned from it), and the issue's target. Without a
trained model (no --checkpoint and no shipped default) the model column says so and the
references are still measured. Progress goes to stderr; the table to stdout (and --out).
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from server.evaluation import lipsync
from server.face.lip_opening import lip_opening, load_mesh_lip_model
from server.evaluation.lipsync import LipSyncScores
from server.speech.language import UNDETERMINED

FPS = 30.0
METHODS = ("model", "english", "denoiser", "teacher", "jaw", "transcript")
HEADERS = ("model (audio only)", "model told English (+ word recogniser)", "model without closure guidance",
           "teacher on alignment", "jaw follows loudness", "model with the transcript", "target")
MODEL_METHODS = ("model", "english", "denoiser", "transcript")
# Columns shown only when measured (--use-transcripts).
OPTIONAL_METHODS = ("transcript",)
# The engine request of each model column: the model alone (language "und", ISO 639's
# "undetermined": not English, so the English word recogniser stays off and only the model's
# closure detector places closures), the language set to English (the recogniser joins), and
# lip-closure guidance off (the denoiser alone).
MODEL_SETTINGS = {"model": {"language": UNDETERMINED}, "english": {"language": "en"}, "denoiser": {"lip_closure": 0.0}}
TARGETS = {"closure": ">= 0.92", "open": ">= 0.85", "rest": ">= 0.90", "sync": "|lag| <= 33 ms"}


def log(message: str) -> None:
    print(f"[evaluate {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class RealSpeechRun:
    scores: dict[str, list[LipSyncScores]] = field(default_factory=lambda: {m: [] for m in METHODS})
    jitter: dict[str, list[float]] = field(default_factory=lambda: {m: [] for m in METHODS})
    files: list[tuple[str, float, str]] = field(default_factory=list)      # name, seconds, transcript
    skipped: list[tuple[str, str]] = field(default_factory=list)


def load_engine(checkpoint: str | None):
    """The engine, or (None, why) when no model can be loaded."""
    from server.engine import Engine
    from server.errors import CheckpointError

    try:
        return Engine.from_checkpoint(checkpoint, device="cpu"), ""
    except CheckpointError as error:
        if checkpoint:
            raise
        return None, f"no trained model ({error})"


def evaluate_real(folder, transcripts, opening_of, engine, fps: float, use_transcripts: bool = False) -> RealSpeechRun:
    from server.audio import load_audio
    from server.engine import GenerationRequest
    from server.speech.alignment import AlignmentError, align
    from server.evaluation.model_figures import jitter
    from server.evaluation.references import jaw_follows_loudness, teacher_on_alignment
    from server.evaluation.speech_set import speech_items

    run = RealSpeechRun()
    for item in speech_items(folder, transcripts):
        if item.transcript is None:
            run.skipped.append((item.name, item.note))
            log(f"{item.name}: skipped ({item.note})")
            continue
        audio = load_audio(str(item.wav))
        log(f"{item.name}: aligning {audio.duration:.1f} s")
        try:
            alignment = align(audio.samples, item.transcript)
        except AlignmentError as error:
            run.skipped.append((item.name, f"alignment failed: {error}"))
            log(f"{item.name}: alignment failed: {error}")
            continue
        curves = {"teacher": teacher_on_alignment(alignment.phones, audio.samples, audio.sample_rate, fps),
                  "jaw": jaw_follows_loudness(audio.samples, audio.sample_rate, fps)}
        if engine is not None:
            log(f"{item.name}: model")
            for method, settings in MODEL_SETTINGS.items():
                request = GenerationRequest(audio=audio, fps=fps, samples=1, seed=0, **settings)
                curves[method] = engine.generate(request).takes[0]
            if use_transcripts:
                # The engine given what is said (the alternative the alignment chose), in English.
                request = GenerationRequest(audio=audio, fps=fps, samples=1, seed=0, language="en",
                                            transcript=alignment.transcript)
                curves["transcript"] = engine.generate(request).takes[0]
        for method, c in curves.items():
            run.scores[method].append(lipsync.score_lipsync(opening_of(c), alignment.phones, fps,
                                                            audio.samples, audio.sample_rate))
            run.jitter[method].append(jitter(c))
        run.files.append((item.name, audio.duration, alignment.transcript))
    return run


def evaluate_heldout(corpus_dir, limit: int, engine, fps: float) -> dict:
    from server.audio import load_audio
    from server.engine import GenerationRequest
    from server.evaluation.heldout import compare_to_teacher, heldout_items, teacher_target
    from server.evaluation.references import jaw_follows_loudness

    from server.training.data import item_phones

    items = heldout_items(corpus_dir, limit)
    pairs = {"model": [], "english": [], "denoiser": [], "jaw": []}
    # Bilabial closure against the synthesiser's own phone times: a check that does not lean on
    # pocketsphinx, which both finds the closures (lip-closure guidance) and aligns real speech.
    closures = {m: lipsync.Share(0, 0) for m in pairs}
    seconds = 0.0
    for number, item in enumerate(items, 1):
        audio = load_audio(str(Path(corpus_dir) / "items" / f"{item['id']}.wav"))
        seconds += audio.duration
        target = teacher_target(corpus_dir, item, audio, fps)
        phones, _ = item_phones(corpus_dir, item)
        sources = {"jaw": jaw_follows_loudness(audio.samples, audio.sample_rate, fps)}
        if engine is not None:
            for method, settings in MODEL_SETTINGS.items():
                request = GenerationRequest(audio=audio, fps=fps, samples=1, seed=0, **settings)
                sources[method] = engine.generate(request).takes[0]
        for method, curves in sources.items():
            pairs[method].append((curves, target))
            closures[method] = closures[method] + lipsync.bilabial_closure(lip_opening(curves), phones, fps)
        if number % 10 == 0 or number == len(items):
            log(f"held-out: {number}/{len(items)} items")
    voices = sorted({f"{i.get('engine')}:{i.get('voice')}" for i in items})
    return {"figures": {m: compare_to_teacher(p, seconds) for m, p in pairs.items() if p},
            "closure": {m: s for m, s in closures.items() if s.total},
            "voices": voices, "first_wav": str(Path(corpus_dir) / "items" / f"{items[0]['id']}.wav")}


def _cell(value) -> str:
    return "—" if value is None else str(value)


def build_table(real: RealSpeechRun | None, heldout: dict | None, model_figures, model_note: str,
                opening_note: str) -> str:
    rows: list[tuple[str, ...]] = []
    model_missing = model_note or None

    shown = [k for k, m in enumerate(METHODS)
             if m not in OPTIONAL_METHODS or (real is not None and real.scores.get(m))]
    methods = [METHODS[k] for k in shown]
    headers = [HEADERS[k] for k in shown] + [HEADERS[-1]]

    def add(label, values: dict, target=""):
        cells = ["no model" if m in MODEL_METHODS and model_missing and m not in values else _cell(values.get(m))
                 for m in methods]
        rows.append((label, *cells, target))

    if heldout is not None:
        figures = heldout["figures"]
        n_items = next(iter(figures.values())).items if figures else 0
        label = f"held-out synthetic voices ({n_items} items): mouth MAE vs teacher"
        add(label, {m: f"{f.mouth_mae:.3f}" for m, f in figures.items()} | {"teacher": "(target)"}, "small")
        add("held-out synthetic voices: jawOpen correlation with teacher",
            {m: f"{f.jaw_correlation:.2f}" for m, f in figures.items()} | {"teacher": "(target)"}, "high")
        add("held-out synthetic voices: bilabial closure at the synthesiser's phone times",
            dict(heldout["closure"]) | {"teacher": "(target)"}, "high")
    if real is not None and real.files:
        pooled = {m: lipsync.pool(s) for m, s in real.scores.items() if s}
        seconds = sum(f[1] for f in real.files)
        count = len(real.files)
        where = f"real speech, {count} file{'' if count == 1 else 's'}, {seconds:.0f} s"
        add(f"{where}: bilabial closure (p/b/m closed)", {m: p.closure for m, p in pooled.items()},
            TARGETS["closure"])
        add(f"{where}: open vowels opened", {m: p.open_vowels for m, p in pooled.items()}, TARGETS["open"])
        add(f"{where}: rest (pause frames closed)", {m: p.rest for m, p in pooled.items()}, TARGETS["rest"])
        add(f"{where}: sync (r with loudness @ lag)", {m: p.sync for m, p in pooled.items()}, TARGETS["sync"])
        add(f"{where}: jitter (mean abs 2nd difference)",
            {m: f"{np.mean(j):.4f}" for m, j in real.jitter.items() if j})
        for i, (name, secs, _text) in enumerate(real.files):
            add(f"per file: {name} ({secs:.1f} s): closure · open · rest · sync",
                {m: f"{s[i].closure.value:.2f} · {s[i].open_vowels.value:.2f} · {s[i].rest.value:.2f} · {s[i].sync}"
                 for m, s in real.scores.items() if s})
    if model_figures is not None:
        f = model_figures
        add("diversity across takes: mouth (mean per-frame std)", {"model": f"{f.mouth_diversity:.4f}"}, "small")
        add("diversity across takes: upper face", {"model": f"{f.upper_diversity:.4f}"}, "clearly > 0")
        add("jitter of the takes (mean abs 2nd difference)", {"model": f"{f.jitter:.4f}"})
        add("pin error (max abs output - pin)", {"model": f"{f.pin_error:.2e}"}, "<= 1e-4")
        add("seam at a regenerated range: value jump (p95 elsewhere)",
            {"model": f"{f.seam.value:.3f} ({f.seam.value_p95_elsewhere:.3f})"}, "<= p95 elsewhere")
        add("seam at a regenerated range: velocity jump (p95 elsewhere)",
            {"model": f"{f.seam.velocity:.3f} ({f.seam.velocity_p95_elsewhere:.3f})"}, "<= p95 elsewhere")
        add("frames outside the regenerated range changed by", {"model": f"{f.outside_change:.1e}"}, "0")
        add("compute seconds per second of audio: 1 take · all takes",
            {"model": f"{f.seconds_per_second:.2f} · {f.seconds_per_second_all:.2f}"})
    lines = ["| figure | " + " | ".join(headers) + " |", "|---|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    notes = [f"Lip opening: {opening_note}."]
    if model_note:
        notes.append(f"Model: {model_note}.")
    if real is not None:
        for name, why in real.skipped:
            notes.append(f"Skipped {name}: {why}.")
    if heldout is not None:
        notes.append("Held-out voices: " + ", ".join(heldout["voices"]) + ".")
    return "\n".join(lines) + "\n\n" + "\n".join(f"- {n}" for n in notes) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help="model checkpoint (default: the shipped model, if installed)")
    parser.add_argument("--no-model", action="store_true", help="measure the references only")
    parser.add_argument("--real", help="folder of real speech .wav files with transcripts")
    parser.add_argument("--transcripts", help="transcripts for --real: a TSV, or a README .md with a table")
    parser.add_argument("--use-transcripts", action="store_true",
                        help="also run the model given each --real file's transcript (closures and open vowels "
                             "placed from it; server/speech/transcript.py)")
    parser.add_argument("--mesh", help="folder of ARKit blendshape OBJs: measure lip opening on the mesh")
    parser.add_argument("--heldout", help="corpus folder whose 'heldout' split to score (e.g. data/corpus)")
    parser.add_argument("--heldout-items", type=int, default=60, help="held-out items to use (default 60)")
    parser.add_argument("--samples", type=int, default=8, help="takes for the diversity figure (default 8)")
    parser.add_argument("--figures-audio", help="clip for the model figures (default: the longest real file scored, else the first held-out item)")
    parser.add_argument("--style", help="performance style of every model column, KEY=VALUE[,KEY=VALUE...] "
                        "(as `mouthpiece generate --style`; default: the model draws it per take)")
    parser.add_argument("--out", help="also write the table, with the command, to this markdown file")
    args = parser.parse_args(argv)
    if not (args.real or args.heldout):
        parser.error("give --real DIR (real speech with transcripts) and/or --heldout CORPUS_DIR")
    if args.samples < 2:
        parser.error("--samples must be at least 2 (diversity is a spread across takes)")

    from server.errors import MouthpieceError

    try:
        if args.mesh:
            mesh = load_mesh_lip_model(args.mesh)
            opening_of, opening_note = mesh.lip_opening, f"measured on the mesh ({mesh.description})"
        else:
            opening_of = lip_opening
            opening_note = ("server.face.lip_opening.lip_opening (linear gains measured on the ARKit "
                            "reference face); closed <= 0.05, open >= 0.15 of the jawOpen = 1 gap")
        engine, model_note = (None, "not run (--no-model)") if args.no_model else load_engine(args.checkpoint)
        if args.style and engine is not None:
            from server.style import parse_pairs

            style = parse_pairs(args.style)
            if engine.style_dim:
                for settings in MODEL_SETTINGS.values():
                    settings["style"] = style
            else:
                log("--style: this model has no style input; its columns are as it draws them")
        if engine is not None:
            model_note = ""
            log(f"model: {engine.source} ({engine.info()['model']})")
        else:
            log(f"{model_note}: measuring the references only")
        real = evaluate_real(args.real, args.transcripts, opening_of, engine, FPS,
                                  args.use_transcripts) if args.real else None
        heldout = evaluate_heldout(args.heldout, args.heldout_items, engine, FPS) if args.heldout else None
        figures = None
        if engine is not None:
            from server.audio import load_audio
            from server.evaluation.model_figures import measure_model

            longest = max(real.files, key=lambda f: f[1])[0] if real and real.files else None
            clip = args.figures_audio or (str(Path(args.real) / f"{longest}.wav") if longest
                                          else heldout["first_wav"] if heldout else None)
            if clip:
                log(f"model figures on {Path(clip).name}")
                figures = measure_model(engine, load_audio(clip), samples=args.samples, progress=log)
    except (MouthpieceError, OSError, ValueError) as error:
        print(f"evaluate: {error}", file=sys.stderr)
        return 2
    table = build_table(real, heldout, figures, model_note, opening_note)
    print(table)
    if args.out:
        command = "scripts/evaluate " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
        Path(args.out).write_text(f"# Evaluation results\n\nMade by `{command}` on {time.strftime('%Y-%m-%d')}."
                                  f"\n\n{table}", encoding="utf-8")
        log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
