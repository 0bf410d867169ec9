"""`python -m server.corpus --out data/corpus --hours 3 --seed 0 [--workers 2] [--augment 2]`"""
from __future__ import annotations

import argparse
import json
import sys



def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make_corpus", description=(
        "Build (or resume) the synthetic speech corpus: TTS speech with exact ARPAbet phone timings "
        "plus augmented renderings. Rerunning the same command resumes; a larger --hours extends."))
    parser.add_argument("--out", required=True, help="output folder (e.g. data/corpus)")
    parser.add_argument("--hours", type=float, required=True, help="hours of clean audio (before augmentation)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--augment", type=int, default=2, help="augmented renderings per item (K)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes")
    parser.add_argument("--engines", default="espeak,flite,festival", help=(
        "comma-separated subset of espeak, flite, festival, mbrola; ENGINE:CODE+CODE limits an engine to "
        "those languages (e.g. festival,espeak:cs+fi: festival's voices plus espeak's Czech and Finnish). "
        "mbrola: MBROLA's recorded English diphone voices us1 us2 us3 en1 (scripts/make_corpus installs "
        "them from Debian contrib and non-free when this names mbrola)"))
    parser.add_argument("--languages", default="en", help=(
        "comma-separated language codes, each item's language drawn evenly among them: en (espeak's "
        "English accents, flite, festival) and espeak-ng's es fr de it pt ru pl hi cmn ja ar sw cs fi; "
        "it ru cs fi also get Debian's festival voices where installed (Italian pc/lp, Russian msu, "
        "Czech ph/dita/machac/krb, Finnish lj/mv; scripts/_env.sh FESTIVAL_LANGUAGE_APT_PACKAGES). Held out "
        "(split heldout, never trained on): espeak variants m2 and f3, flite rms, festival lp_diphone, "
        "czech_machac and hy_fi_mv_diphone"))
    args = parser.parse_args(argv)
    if args.hours <= 0:
        parser.error("--hours must be positive")
    if args.augment < 0 or args.workers < 1:
        parser.error("--augment must be >= 0 and --workers >= 1")
    engines = tuple(e.strip() for e in args.engines.split(",") if e.strip())
    from .build import LANGUAGES, build_corpus, language_engines, parse_engines
    try:
        spec = parse_engines(engines)
    except ValueError as exc:
        parser.error(f"--engines: {exc} (optionally ENGINE:CODE+CODE)")
    languages = tuple(code.strip() for code in args.languages.split(",") if code.strip())
    if not languages or set(languages) - set(LANGUAGES) or len(set(languages)) != len(languages):
        parser.error(f"--languages: choose distinct codes from {','.join(LANGUAGES)}")
    for code in languages:
        if not any(e in spec and (spec[e] is None or code in spec[e]) for e in language_engines(code)):
            parser.error(f"--languages: {code} needs one of the engines {', '.join(language_engines(code))}")
    try:
        summary = build_corpus(args.out, hours=args.hours, seed=args.seed, n_augment=args.augment,
                               workers=args.workers, engines=engines, languages=languages)
    except KeyboardInterrupt:
        return 130
    print(json.dumps({"items": summary["items"], "hours": summary["hours"]["total"],
                      "clean_hours": summary["hours"]["clean"], "by_split": summary["hours"]["by_split"],
                      "by_language": summary["hours"]["by_language"],
                      "by_language_split": summary["hours"]["by_language_split"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
