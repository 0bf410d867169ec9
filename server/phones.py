"""The phone sets, defined once (the phone contract of docs/ARCHITECTURE.md).

Phones are stress-free ARPAbet (pocketsphinx's and the CMU dictionary's 39) plus SIL (silence)
and BR (a breath). The corpus, the teacher, the recogniser and aligner, the features, the
closure guidance, the evaluation and the demo all take their sets from here.
"""

from __future__ import annotations

VOWELS = ("AA", "AE", "AH", "AO", "AW", "AY", "EH", "ER", "EY", "IH", "IY", "OW", "OY", "UH", "UW")
CONSONANTS = ("B", "CH", "D", "DH", "F", "G", "HH", "JH", "K", "L", "M", "N", "NG", "P", "R", "S",
              "SH", "T", "TH", "V", "W", "Y", "Z", "ZH")
ARPABET = tuple(sorted(VOWELS + CONSONANTS))      # AA AE AH ... Z ZH, alphabetical
SILENCE = "SIL"
BREATH = "BR"
NON_SPEECH = frozenset({SILENCE, BREATH})
PHONES = frozenset(ARPABET + (SILENCE, BREATH))

BILABIALS = frozenset({"P", "B", "M"})           # the lips must meet
LABIODENTALS = frozenset({"F", "V"})             # lower lip to the upper teeth
OPEN_VOWELS = frozenset({"AA", "AE", "AH", "AO", "AW", "AY"})   # the jaw must open
STOPS = frozenset({"P", "B", "T", "D", "K", "G", "CH", "JH"})   # a closure, then a release

assert len(ARPABET) == 39 and BILABIALS | LABIODENTALS | STOPS <= set(CONSONANTS) and OPEN_VOWELS <= set(VOWELS)
