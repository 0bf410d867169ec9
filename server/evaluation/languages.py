"""``scripts/evaluate_languages``: lip sync per language, on held-out synthetic voices and on
real speech in a language the English recogniser does not know.

    scripts/evaluate_languages [--checkpoint P] --heldout data/corpus_multi [--heldout data/corpus]
                               [--items-per-language 12] [--foreign WAV ...]

Held-out synthetic voices (voices never trained on) in every language of the corpora: bilabial
closure and open vowels at the synthesiser's own phone times, and the jawOpen correlation with
the teacher on those phones. Each is measured for the model alone (its closure detector; the
language "und", undetermined, so the English recogniser stays off), and for the model told the
language (the English recogniser joins only for "en").

A real clip in another language (``--foreign``) has no phone truth; what it shows is what the
English recogniser would do to it: how many closures per second each closure source places
(the detector alone against the recogniser forced on with language "en"), and
the sync of the lips with loudness for each.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from server.evaluation import lipsync
from server.face.lip_opening import CLOSED_THRESHOLD, lip_opening
from server.speech.language import UNDETERMINED

FPS = 30.0
MODEL_ALONE = {"language": UNDETERMINED}   # the closure detector, never the English recogniser


def log(message: str) -> None:
    print(f"[evaluate_languages {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def heldout_by_language(corpora: list[str], per_language: int, seed: int = 0) -> dict[str, list[tuple[str, dict]]]:
    from server.training.data import read_manifest

    groups: dict[str, list[tuple[str, dict]]] = defaultdict(list)
    for corpus in corpora:
        for item in read_manifest(corpus, split="heldout"):
            groups[item.get("language", "en")].append((corpus, item))
    rng = np.random.default_rng(seed)
    out = {}
    for language, items in sorted(groups.items()):
        if len(items) > per_language:
            items = [items[i] for i in sorted(rng.choice(len(items), per_language, replace=False))]
        out[language] = items
    return out


def score_language(engine, items, language: str) -> dict:
    from server.audio import load_audio
    from server.engine import GenerationRequest
    from server.evaluation.heldout import compare_to_teacher, teacher_target
    from server.training.data import item_phones

    closure = {"auto": lipsync.Share(0, 0), "told": lipsync.Share(0, 0), "denoiser": lipsync.Share(0, 0)}
    vowels = {k: lipsync.Share(0, 0) for k in closure}
    pairs, seconds = [], 0.0
    settings = {"auto": MODEL_ALONE, "told": {"language": language}, "denoiser": {"lip_closure": 0.0}}
    # The neutral speaker, so languages are compared on the same face (a model without a style input: none).
    neutral = {"style": {"articulation": 1.0, "smile": 0.0, "asymmetry": 0.0}} if engine.style_dim else {}
    for corpus, item in items:
        audio = load_audio(str(Path(corpus) / "items" / f"{item['id']}.wav"))
        seconds += audio.duration
        phones, _ = item_phones(corpus, item)
        target = teacher_target(corpus, item, audio, FPS)
        for name, extra in settings.items():
            curves = engine.generate(GenerationRequest(audio=audio, fps=FPS, samples=1, seed=0,
                                                       **neutral, **extra)).takes[0]
            opening = lip_opening(curves)
            closure[name] = closure[name] + lipsync.bilabial_closure(opening, phones, FPS)
            vowels[name] = vowels[name] + lipsync.open_vowels(opening, phones, FPS)
            if name == "auto":
                pairs.append((curves, target))
    figures = compare_to_teacher(pairs, seconds)
    return {"closure": closure, "open": vowels, "jaw_r": figures.jaw_correlation, "mae": figures.mouth_mae,
            "items": len(items), "seconds": seconds}


def closures_per_second(opening: np.ndarray) -> float:
    """Closures in speech per second: runs of closed frames with the mouth open within 5 frames."""
    closed = opening <= CLOSED_THRESHOLD
    n = len(opening)
    count, i = 0, 0
    while i < n:
        if closed[i]:
            j = i
            while j < n and closed[j]:
                j += 1
            near = opening[max(0, i - 5):min(n, j + 5)]
            count += bool(near.max() >= 3 * CLOSED_THRESHOLD)
            i = j
        else:
            i += 1
    return count / (n / FPS)


def score_foreign(engine, wav: str) -> dict:
    from server.audio import load_audio
    from server.engine import GenerationRequest

    audio = load_audio(wav)
    out = {"seconds": audio.duration}
    for name, extra in {"auto": MODEL_ALONE, "en": {"language": "en"}, "denoiser": {"lip_closure": 0.0}}.items():
        result = engine.generate(GenerationRequest(audio=audio, fps=FPS, samples=1, seed=0, **extra))
        opening = lip_opening(result.takes[0])
        out[name] = {"closures_per_s": closures_per_second(opening),
                     "sync": lipsync.sync(opening, FPS, audio.samples, audio.sample_rate),
                     "sources": "+".join(result.closure_sources) or "none"}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="evaluate_languages", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint")
    parser.add_argument("--heldout", action="append", default=[], help="corpus folder (repeatable)")
    parser.add_argument("--items-per-language", type=int, default=12)
    parser.add_argument("--foreign", action="append", default=[], help="real non-English .wav (repeatable)")
    args = parser.parse_args(argv)
    if not (args.heldout or args.foreign):
        parser.error("give --heldout CORPUS and/or --foreign WAV")

    from server.engine import Engine

    engine = Engine.from_checkpoint(args.checkpoint, device="cpu")
    lines = ["| language | held-out items (s) | closure: model alone · told the language · denoiser alone | "
             "open vowels: model alone · told · denoiser alone | jawOpen r vs teacher | mouth MAE |", "|---|---|---|---|---|---|"]
    groups = heldout_by_language(args.heldout, args.items_per_language)
    total = defaultdict(lambda: lipsync.Share(0, 0))
    for language, items in groups.items():
        log(f"{language}: {len(items)} held-out items")
        s = score_language(engine, items, language)
        for k in ("auto", "told", "denoiser"):
            total["closure_" + k] = total["closure_" + k] + s["closure"][k]
            total["open_" + k] = total["open_" + k] + s["open"][k]
        lines.append(f"| {language} | {s['items']} ({s['seconds']:.0f} s) | {s['closure']['auto']} · "
                     f"{s['closure']['told']} · {s['closure']['denoiser']} | {s['open']['auto']} · "
                     f"{s['open']['told']} · {s['open']['denoiser']} | {s['jaw_r']:.2f} | {s['mae']:.3f} |")
    if groups:
        lines.append(f"| all | | {total['closure_auto']} · {total['closure_told']} · {total['closure_denoiser']} | "
                     f"{total['open_auto']} · {total['open_told']} · {total['open_denoiser']} | | |")
    print("\n".join(lines))
    if args.foreign:
        print("\n| real clip | seconds | closures per second: model alone (sources) · language en (sources) · "
              "denoiser alone | sync: model alone · en · denoiser alone |\n|---|---|---|---|")
        for wav in args.foreign:
            log(f"foreign clip {Path(wav).name}")
            f = score_foreign(engine, wav)
            print(f"| {Path(wav).name} | {f['seconds']:.1f} | {f['auto']['closures_per_s']:.2f} ({f['auto']['sources']}) · "
                  f"{f['en']['closures_per_s']:.2f} ({f['en']['sources']}) · {f['denoiser']['closures_per_s']:.2f} | "
                  f"{f['auto']['sync']} · {f['en']['sync']} · {f['denoiser']['sync']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
