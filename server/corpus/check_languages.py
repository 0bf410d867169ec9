"""`python -m server.corpus.check_languages [codes]`: synthesise every sentence of each corpus
language and check espeak-ng stays in that language (no "(en)" switch markers) and that every
phoneme event maps to ARPAbet through server.corpus.ipa; then the same sentences with each
installed non-English festival voice of those languages (Debian's Italian, Russian, Czech and
Finnish voices), every phone through its phone set (server.corpus.festival_phones). Prints each
inventory as mnemonic/IPA>ARPAbet (festival: phone/IPA>ARPAbet); exits 1 on any failure."""
from __future__ import annotations

import collections
import sys

from . import text
from .build import ESPEAK_LANGUAGES, FESTIVAL_LANGUAGES, LANGUAGES
from .engines import FESTIVAL_FOREIGN_VOICES, EngineError, Voice, festival_foreign_voices, synth
from .festival_phones import festival_phone_ipa, festival_to_arpabet
from .ipa import espeak_to_arpabet
from .phones import UnknownPhone


def check(language: str) -> tuple[dict, list[str]]:
    voice = Voice("espeak", ESPEAK_LANGUAGES[language])
    events: collections.Counter = collections.Counter()
    problems = []
    for sentence in text.sentences(language):
        _, raw = synth(sentence, voice, ipa=True)
        names = [n for n, _, _ in raw]
        if any(m.startswith("(") for m, _ in names):
            problems.append(f"language switch in {sentence!r}: {' '.join(m for m, _ in names)}")
        events.update(names)
    inventory = {}
    for name in sorted(events):
        try:
            inventory[name] = espeak_to_arpabet(name, language)
        except UnknownPhone as exc:
            problems.append(str(exc))
    return inventory, problems


def check_festival(name: str, sentences: list[str] | None = None) -> tuple[dict, list[str]]:
    """Synthesise `sentences` (default: all of the voice's language) with festival voice `name`."""
    language, _, phone_set = FESTIVAL_FOREIGN_VOICES[name]
    voice = Voice("festival", name)
    phones: collections.Counter = collections.Counter()
    problems = []
    for sentence in sentences if sentences is not None else text.sentences(language):
        try:
            _, raw = synth(sentence, voice)
        except EngineError as exc:
            problems.append(str(exc))
            continue
        if sum(1 for n, _, _ in raw if festival_phone_ipa_or_none(n, phone_set)) < 3:
            problems.append(f"{name} spoke almost nothing of {sentence!r}: {' '.join(n for n, _, _ in raw)}")
        phones.update(n for n, _, _ in raw)
    inventory = {}
    for phone in sorted(phones):
        try:
            inventory[(phone, festival_phone_ipa(phone, phone_set))] = festival_to_arpabet(phone, phone_set)
        except UnknownPhone as exc:
            problems.append(str(exc))
    return inventory, problems


def festival_phone_ipa_or_none(name: str, phone_set: str) -> str | None:
    try:
        return festival_phone_ipa(name, phone_set) or None
    except UnknownPhone:
        return None


def main(argv: list[str]) -> int:
    failed = False
    languages = argv or [code for code in LANGUAGES if code != "en"]
    for language in languages:
        if language not in ESPEAK_LANGUAGES:
            continue
        inventory, problems = check(language)
        print(language, " ".join(f"{m}/{i}>{'.'.join(t) or '-'}" for (m, i), t in inventory.items()))
        for problem in problems:
            print("  PROBLEM:", problem)
        failed |= bool(problems)
    installed = festival_foreign_voices()
    for language in languages:
        if language not in FESTIVAL_LANGUAGES:
            continue
        missing = [n for n, (code, _, _) in FESTIVAL_FOREIGN_VOICES.items() if code == language and n not in installed]
        if missing:
            print(f"{language} festival: not installed: {' '.join(missing)} (scripts/_env.sh FESTIVAL_LANGUAGE_APT_PACKAGES)")
        for name in [n for n, code in installed.items() if code == language]:
            inventory, problems = check_festival(name)
            print(f"{language} festival:{name}", " ".join(f"{p}/{i or '-'}>{'.'.join(t)}" for (p, i), t in inventory.items()))
            for problem in problems:
                print("  PROBLEM:", problem)
            failed |= bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
