"""`python -m server.corpus.check_languages [codes]`: synthesise every sentence of each corpus
language and check espeak-ng stays in that language (no "(en)" switch markers) and that every
phoneme event maps to ARPAbet through server.corpus.ipa. Prints each language's inventory as
mnemonic/IPA>ARPAbet; exits 1 on any failure."""
from __future__ import annotations

import collections
import sys

from . import text
from .build import ESPEAK_LANGUAGES
from .engines import Voice, synth
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


def main(argv: list[str]) -> int:
    failed = False
    for language in argv or sorted(ESPEAK_LANGUAGES):
        inventory, problems = check(language)
        print(language, " ".join(f"{m}/{i}>{'.'.join(t) or '-'}" for (m, i), t in inventory.items()))
        for problem in problems:
            print("  PROBLEM:", problem)
        failed |= bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
