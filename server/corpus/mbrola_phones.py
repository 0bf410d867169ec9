"""The phone names of Debian's non-English MBROLA voices -> IPA -> ARPAbet (server.corpus.ipa).

espeak-ng (1.51) drives the mb-<voice> voices: `espeak-ng -v mb-<voice> -q --pho` writes the
score MBROLA renders, with espeak's phonemes renamed to the database's own names by the voice's
translation file (espeak-ng phsource/mbrola/<file>, compiled to espeak-ng-data/mbrola_ph/); names
the file does not rename pass through as espeak mnemonics. Each table below lists the names of one
phone set with their IPA, which then goes through ipa.py's articulatory features to the teacher's
ARPAbet targets, as espeak's own IPA does. A silence maps to SIL; a name or set outside the tables
raises UnknownPhone.

Where the names come from and how they were checked: every name espeak-ng 1.51 wrote for each voice
reading the corpus text (English utterances of server.corpus.text for the "-en" voices, the
language's own sentences of server/corpus/texts/ for the native ones, plus words chosen for rare
sounds), the names the translation files can write, and the phone lists in the databases' READMEs
(/usr/share/doc/mbrola-<voice>/README.txt, br1sampa.set, ro1 sampa.txt). The IPA is the
DATABASE's meaning of the name, i.e. what the audio says, which is sometimes not what espeak meant:
- Names are case-sensitive SAMPA, and voices disagree: Brazilian br1-3 "j" is [ʒ], "x" [ʃ], "y" the
  glide [j] and "h" the palatal lateral [ʎ] (ptbr_phtrans writes "h" for lh; br1's "h" sounds like
  [j]/[ɲ], measured), while br4 "h" is [h] and "y" a reduced [ɪ]; it1/it2 "J" is the glide [j]
  (README "ieri"; its spectrum matches it1's "I"), it3/it4 "J" is [ɲ]; Greek gr2 "S" is [ts],
  "Z" [dz], "X" [ks], "Y" [ps], "M" [mʲ]; Romanian ro1 "T" is [ts], "C" [tʃ], "G" [dʒ], "J" [ʒ];
  Mexican mx2 "j" is [x]; Arabic "H" is ayn [ʕ] and "X" [ħ].
- "?V" (de4): the vowel V recorded across a syllable boundary, i.e. with a glottal onset, which
  has no lip or jaw target of its own: it maps to the vowel. A bare "?" is the glottal stop.
- Brazilian am em im om um / an en in on un and Portuguese 6~ e~ i~ o~ u~ are nasal vowels.
- Italian "nf" is the labiodental nasal [ɱ]; German "pf"/"pF" the labiodental affricate [pf] (ipa.py:
  P then F); Hindi aspirates keep their place (ph -> P, bh -> B); "n-" is syllabic [n̩].
VOICE_MISSING_PHONES lists, per voice, the names espeak writes that the database has no diphones
for (probed with `mbrola -e` next to silence and the voice's commonest vowels: every such diphone
is reported unknown), so MBROLA renders their whole duration as silence: e.g. "n-" in most "-en"
voices, es1/es2's unstressed "e/" "o/", cz1's palatals and affricates.
"""
from __future__ import annotations

from .ipa import phone_ipa_to_arpabet
from .phones import UnknownPhone

# ------------------------------------------------------------------------------------- German
# de1-de7 (German SAMPA; de4 adds English EI @U T D r L w and French nasals; de6/de7 "?" glottal
# stop). The same databases read English for de1-en .. de6-en.
_DE_VOWELS = {
    "a": "a", "a:": "aː", "e": "e", "e:": "eː", "E": "ɛ", "E:": "ɛː", "i": "i", "I": "ɪ",
    "i:": "iː", "o": "o", "o:": "oː", "O": "ɔ", "u": "u", "U": "ʊ", "u:": "uː", "y": "y",
    "Y": "ʏ", "y:": "yː", "2": "ø", "2:": "øː", "9": "œ", "@": "ə", "6": "ɐ", "aI": "aɪ",
    "aU": "aʊ", "OY": "ɔʏ", "E~": "ɛ̃", "a~": "ɑ̃", "o~": "õ", "9~": "œ̃", "EI": "eɪ", "@U": "əʊ",
}
_DE = {
    **_DE_VOWELS,
    # de4's cross-syllable vowels ("?a" = [ʔa]): the glottal onset has no lip target of its own.
    **{"?" + name: ipa for name, ipa in _DE_VOWELS.items()},
    "p": "p", "b": "b", "t": "t", "d": "d", "k": "k", "g": "ɡ", "pf": "pf", "ts": "ts",
    "tS": "tʃ", "dZ": "dʒ", "f": "f", "v": "v", "s": "s", "z": "z", "S": "ʃ", "Z": "ʒ", "C": "ç",
    "j": "j", "x": "x", "h": "h", "m": "m", "n": "n", "N": "ŋ", "l": "l", "R": "ʁ", "?": "ʔ",
    "T": "θ", "D": "ð", "r": "ɹ", "L": "l", "w": "w", "n-": "n̩",
}
# de8: Bavarian (README's own labels). "C" is [ç] (espeak also writes it for German [ts]), "Z" a
# lenis [ʒ] (espeak writes it for [z]), "A" the dark [ɒ] of "Radl"; the diphthongs are README's.
_DE8 = {
    "A": "ɒ", "a": "a", "E": "ɛ", "E2": "ɛ", "e": "e", "e:": "eː", "I": "ɪ", "i": "i", "i:": "iː",
    "o:": "oː", "O": "ɔ", "9": "œ", "U": "ʊ", "UR": "ʊɐ", "Y": "ʏ", "Y:": "ʏː", "OY": "ɔʏ",
    "aI": "aɪ", "aU": "aʊ", "AI": "ɒɪ", "eA": "eɐ", "IA": "ɪɐ", "OA": "ɔɐ", "OI": "ɔɪ", "oI": "oɪ",
    "OU": "ɔʊ", "UA": "ʊɐ", "UI": "ʊɪ", "eI": "eɪ", "oU": "oʊ", "0": "ɒ", "A@": "ɑːɐ", "W~": "œ̃",
    "b": "b", "pf": "pf", "pF": "pf", "d": "d", "ds": "ts", "t": "t", "g": "ɡ", "k": "k", "C": "ç",
    "x": "x", "f": "f", "v": "v", "s": "s", "S": "ʃ", "Z": "ʒ", "h": "h", "j": "j", "m": "m",
    "n": "n", "N": "ŋ", "l": "l", "R": "ʁ", "tS": "tʃ", "dZ": "dʒ", "T": "θ",
}
# -------------------------------------------------------------------------------------- French
# fr1-fr7 (French SAMPA; "H" is [ɥ], "R" uvular); fr1-en and fr4-en read English with them.
_FR = {
    "a": "a", "A": "ɑ", "a~": "ɑ̃", "e": "e", "e~": "ɛ̃", "E": "ɛ", "i": "i", "o": "o", "o~": "ɔ̃",
    "O": "ɔ", "u": "u", "y": "y", "2": "ø", "9": "œ", "9~": "œ̃", "@": "ə", "j": "j", "w": "w",
    "H": "ɥ", "p": "p", "b": "b", "t": "t", "d": "d", "k": "k", "g": "ɡ", "f": "f", "v": "v",
    "s": "s", "z": "z", "S": "ʃ", "Z": "ʒ", "m": "m", "n": "n", "N": "ŋ", "J": "ɲ", "l": "l",
    "R": "ʁ", "x": "x", "n-": "n̩",
}
# ------------------------------------------------------------------------------------- Spanish
_ES_COMMON = {
    "a": "a", "e": "e", "i": "i", "o": "o", "u": "u", "p": "p", "b": "b", "t": "t", "d": "d",
    "k": "k", "g": "ɡ", "tS": "tʃ", "f": "f", "s": "s", "x": "x", "m": "m", "n": "n", "l": "l",
    "r": "ɾ", "rr": "r", "w": "w", "j": "j", "jj": "ʝ",
}
# es1/es2: "J" [ɲ], "L" [ʎ], "T" [θ]; e/ o/ are espeak's unstressed e o (absent from es1/es2).
_ES = {**_ES_COMMON, "J": "ɲ", "L": "ʎ", "T": "θ", "e/": "e", "o/": "o"}
# es3/es4 (es3_phtrans, es4_phtrans): es3 writes [x] and [ɣ] as "H", its tap as "h" (which it has
# no diphones for); es4 writes its taps and [ɣ] as "jj" and its [l] as "L". espeak's "J^" [ʝ] and
# "R2" (trill) pass through unrenamed, as do the diphthongs.
_ES34 = {
    **_ES_COMMON, "J": "ɲ", "L": "ʎ", "T": "θ", "H": "x", "h": "h", "J^": "ʝ", "R2": "r",
    "dZ": "dʒ", "z": "z", "aI": "ai", "aU": "au", "eI": "ei", "oI": "oi",
}
# mx1/mx2 (Mexican): no [θ]/[ʎ] of their own; mx2 "j" is [x] (README "mujer"), "ny" [ɲ]; "l^" is
# espeak's [ʎ] passed through.
_MX = {
    **_ES_COMMON, "J": "ɲ", "ny": "ɲ", "N": "ŋ", "dZ": "dʒ", "j": "x", "l^": "ʎ", "e/": "e",
    "o/": "o",
}
# ------------------------------------------------------------------------------------- Italian
# it1/it2 (README: uppercase labels; doubled = geminate; "J" is the glide [j], "gn" [ɲ], "gl" [ʎ],
# "ch"/"gh" [tʃ dʒ]); espeak's lowercase tS dZ j ss ts2 dz pass through (absent from it1/it2).
_IT12 = {
    "A": "a", "A2": "a", "E": "e", "E1": "ɛ", "E2": "e", "I": "i", "I2": "i", "O": "o",
    "O1": "ɔ", "O2": "o", "U": "u", "U1": "u", "U2": "u", "J": "j", "W": "w", "P": "p", "T": "t",
    "K": "k", "B": "b", "D": "d", "G": "ɡ", "PP": "pː", "TT": "tː", "KK": "kː", "BB": "bː",
    "DD": "dː", "GG": "ɡː", "ts": "ts", "dz": "dz", "ch": "tʃ", "gh": "dʒ", "TS": "tːs",
    "DZ": "dːz", "CH": "tːʃ", "GH": "dːʒ", "F": "f", "V": "v", "S": "s", "Z": "z", "sh": "ʃ",
    "FF": "fː", "VV": "vː", "SS": "sː", "SH": "ʃː", "M": "m", "N": "n", "gn": "ɲ", "ng": "ŋ",
    "MM": "mː", "NN": "nː", "GN": "ɲː", "L": "l", "gl": "ʎ", "R": "ɾ", "LL": "lː", "GL": "ʎː",
    "RR": "r", "H": "h", "tS": "tʃ", "dZ": "dʒ", "j": "j", "ss": "sː", "ts2": "tsː",
}
# it3/it4 (README: "1" marks a stressed vowel, "J" [ɲ], "nf" the labiodental nasal [ɱ]).
_IT34 = {
    "i": "i", "e": "e", "E": "ɛ", "a": "a", "o": "o", "O": "ɔ", "u": "u", "i1": "i", "e1": "e",
    "E1": "ɛ", "a1": "a", "o1": "o", "O1": "ɔ", "u1": "u", "i/": "i", "j": "j", "w": "w",
    "p": "p", "t": "t", "k": "k", "b": "b", "d": "d", "g": "ɡ", "f": "f", "s": "s", "S": "ʃ",
    "v": "v", "z": "z", "Z": "ʒ", "ts": "ts", "tS": "tʃ", "dz": "dz", "dZ": "dʒ", "m": "m",
    "n": "n", "J": "ɲ", "nf": "ɱ", "ng": "ŋ", "l": "l", "L": "ʎ", "r": "r", "ss": "sː",
    "ts2": "tsː",
}
# ---------------------------------------------------------------------------------- Portuguese
_BR_COMMON = {
    "a": "a", "@": "ɐ", "e": "e", "ee": "ɛ", "i": "i", "o": "o", "oo": "ɔ", "u": "u", "p": "p",
    "b": "b", "t": "t", "d": "d", "k": "k", "g": "ɡ", "f": "f", "v": "v", "s": "s", "s2": "s",
    "z": "z", "j": "ʒ", "x": "ʃ", "m": "m", "n": "n", "nh": "ɲ", "l": "l", "lh": "ʎ", "r": "ɾ",
    "rr": "ʁ",
}
# br1-br3 (br1 README, br1sampa.set): nasal vowels am em im om um; "y"/"w" the glides; "r2" the
# coda r (a tap in br1, measured); "h" is what ptbr_phtrans writes for [ʎ] (br1 has no "lh"
# diphones; its "h" sounds like [j]/[ɲ], measured); "s2" the coda s ([s] in br1, measured).
_BR = {**_BR_COMMON, "am": "ɐ̃", "em": "ẽ", "im": "ĩ", "om": "õ", "um": "ũ", "y": "j", "w": "w",
       "r2": "ɾ", "h": "ʎ"}
# br4 (README; Carioca): nasal vowels an en in on un; "y" and "w" also the reduced final [ɪ] [ʊ];
# "h" is [h]; "r2" the coda r, a fricative like "rr" (measured).
_BR4 = {**_BR_COMMON, "an": "ɐ̃", "en": "ẽ", "in": "ĩ", "on": "õ", "un": "ũ", "y": "ɪ", "w": "ʊ",
        "r2": "ʁ", "h": "h"}
# pt1 (European Portuguese, README): "6" [ɐ], "@" [ɨ], nasal vowels with "~", "6~j~" [ɐ̃j̃];
# "oo"/"ee" are the br names pt1_phtrans writes for [ɔ] [ɛ] (absent from pt1).
_PT = {
    "i": "i", "e": "e", "E": "ɛ", "a": "a", "6": "ɐ", "O": "ɔ", "o": "o", "u": "u", "@": "ɨ",
    "i~": "ĩ", "e~": "ẽ", "6~": "ɐ̃", "o~": "õ", "u~": "ũ", "6~j~": "ɐ̃j̃", "oo": "ɔ", "ee": "ɛ",
    "w": "w", "j": "j", "p": "p", "b": "b", "t": "t", "d": "d", "k": "k", "g": "ɡ", "f": "f",
    "v": "v", "s": "s", "z": "z", "S": "ʃ", "Z": "ʒ", "m": "m", "n": "n", "J": "ɲ", "l": "l",
    "L": "ʎ", "r": "ɾ", "R": "ʁ",
}
# ---------------------------------------------------------------------------- Polish and Czech
# pl1 (README): "I" [ɨ], "S"/"Z" retroflex, "'" marks the alveolo-palatals; "E#" espeak's final [ɛ].
_PL = {
    "i": "i", "I": "ɨ", "e": "ɛ", "E#": "ɛ", "a": "a", "o": "ɔ", "u": "u", "e~": "ɛ̃", "o~": "ɔ̃",
    "p": "p", "b": "b", "t": "t", "d": "d", "k": "k", "g": "ɡ", "f": "f", "v": "v", "s": "s",
    "z": "z", "S": "ʂ", "Z": "ʐ", "s'": "ɕ", "z'": "ʑ", "x": "x", "ts": "ts", "dz": "dz",
    "tS": "tʂ", "dZ": "dʐ", "ts'": "tɕ", "dz'": "dʑ", "m": "m", "n": "n", "n'": "ɲ", "N": "ŋ",
    "l": "l", "r": "r", "w": "w", "j": "j", "n-": "n̩",
}
# cz2 (README; cs_phtrans writes these names for cz1 too, which lacks d' t' n' r' h\ ts dz dZ).
_CS = {
    "a": "a", "a:": "aː", "e": "ɛ", "e:": "ɛː", "i": "ɪ", "i:": "iː", "o": "o", "o:": "oː",
    "u": "u", "u:": "uː", "b": "b", "ts": "ts", "tS": "tʃ", "d": "d", "dz": "dz", "dZ": "dʒ",
    "d'": "ɟ", "f": "f", "g": "ɡ", "h\\": "ɦ", "j": "j", "k": "k", "l": "l", "m": "m", "n": "n",
    "n'": "ɲ", "p": "p", "r": "r", "r'": "r̝", "s": "s", "S": "ʃ", "t": "t", "t'": "c", "v": "v",
    "x": "x", "z": "z", "Z": "ʒ",
}
# ------------------------------------------------------------------------------------- Hindi
# in1/in2 (README): "h" after a stop marks aspiration, capitals the retroflexes, "c"/"j" the
# palatal affricates; a~ e~ i~ (nasal vowels), r. [ɽ], Q [ɣ], q x z f are espeak's, passed through.
_HI = {
    "a": "ə", "aa": "aː", "ii": "iː", "uu": "uː", "e": "eː", "ai": "ɛː", "o": "oː", "au": "ɔː",
    "a~": "ã", "e~": "ẽ", "i~": "ĩ", "k": "k", "kh": "kʰ", "g": "ɡ", "gh": "ɡʱ", "c": "tʃ",
    "ch": "tʃʰ", "j": "dʒ", "jh": "dʒʱ", "T": "ʈ", "Th": "ʈʰ", "D": "ɖ", "Dh": "ɖʱ", "N": "ɳ",
    "t": "t̪", "th": "t̪ʰ", "d": "d̪", "dh": "d̪ʱ", "n": "n", "p": "p", "ph": "pʰ", "b": "b",
    "bh": "bʱ", "m": "m", "y": "j", "r": "ɾ", "r.": "ɽ", "l": "l", "v": "ʋ", "sh": "ʃ",
    "Sh": "ʂ", "s": "s", "h": "ɦ", "f": "f", "z": "z", "x": "x", "q": "q", "Q": "ɣ",
}
# ------------------------------------------------------------------------------------ Arabic
# ar1/ar2 (README): "." marks the emphatics and the vowels coloured by them, "H" is ayn [ʕ], "X"
# [ħ], "G" [ɣ]; "gH" (ar1), "Q" (ar2) and "R" (trill) are espeak's, passed through.
_AR = {
    "a": "a", "i": "i", "u": "u", "a.": "ɑ", "i.": "i", "u.": "u", "b": "b", "t": "t", "d": "d",
    "k": "k", "g": "ɡ", "q": "q", "?": "ʔ", "f": "f", "v": "v", "s": "s", "z": "z", "s.": "sˤ",
    "d.": "dˤ", "t.": "tˤ", "z.": "ðˤ", "S": "ʃ", "Z": "ʒ", "x": "x", "G": "ɣ", "gH": "ɣ",
    "Q": "ɣ", "X": "ħ", "H": "ʕ", "h": "h", "T": "θ", "D": "ð", "m": "m", "n": "n", "r": "ɾ",
    "R": "r", "l": "l", "w": "w", "j": "j", "p": "p",
}
# ---------------------------------------------------------------------------------- Japanese
# jp1-jp3 (jp_phtrans): "c" is espeak's [ç] (hi), "U" its moraic-nasal vowel [ũ] (san-po), "N"
# [ŋ] before k/g; espeak's [ɸ] (fu) is written "p" and sounds as jp's [p].
_JA = {
    "a": "a", "i": "i", "u": "ɯᵝ", "e": "e", "o": "o", "a:": "aː", "i:": "iː", "u:": "ɯᵝː",
    "e:": "eː", "o:": "oː", "U": "ũ", "p": "p", "b": "b", "t": "t", "d": "d", "k": "k", "g": "ɡ",
    "G": "ɡ", "s": "s", "z": "z", "S": "ɕ", "tS": "tɕ", "dZ": "dʑ", "ts": "ts", "c": "ç",
    "h": "h", "f": "f", "v": "v", "m": "m", "n": "n", "N": "ŋ", "r": "ɾ", "rr": "ɾ", "w": "w",
    "j": "j",
}
# --------------------------------------------------------------- other databases reading English
# nl2 (README): onset w is Dutch [ʋ], coda W/J/L/R the glide/lateral/rhotic allophones, tj dj nj
# the palatals, "h" voiced [ɦ], I: Y: O: the vowels before r.
_NL = {
    "i": "i", "I": "ɪ", "e": "eː", "E": "ɛ", "a": "aː", "A": "ɑ", "o": "oː", "O": "ɔ", "u": "u",
    "y": "y", "Y": "ʏ", "2": "øː", "@": "ə", "Ei": "ɛi", "9y": "œy", "Au": "ʌu", "I:": "ɪː",
    "Y:": "ʏː", "O:": "ɔː", "E~": "ɛ̃", "Y~": "œ̃", "A~": "ɑ̃", "O~": "ɔ̃", "Oe": "œ", "p": "p",
    "b": "b", "t": "t", "d": "d", "tj": "c", "dj": "ɟ", "k": "k", "g": "ɡ", "f": "f", "v": "v",
    "s": "s", "z": "z", "S": "ʃ", "Z": "ʒ", "x": "x", "G": "ɣ", "h": "ɦ", "m": "m", "n": "n",
    "nj": "ɲ", "N": "ŋ", "l": "l", "L": "l", "r": "r", "R": "ɹ", "w": "ʋ", "W": "w", "j": "j",
    "J": "j", "n-": "n̩",
}
# af1 (README): "&" [əi], "$" [œu], "}" [œy], "{" [æ], "A" [ɑ], "a" the free [ɑː], "?" glottal.
_AF = {
    "i": "i", "e": "e", "a": "ɑː", "u": "u", "o": "o", "y": "y", "2": "ø", "E": "ɛ", "A": "ɑ",
    "O": "ɔ", "@": "ə", "9": "œ", "&": "əi", "$": "œu", "}": "œy", "{": "æ", "p": "p", "b": "b",
    "t": "t", "d": "d", "k": "k", "g": "ɡ", "f": "f", "v": "v", "s": "s", "z": "z", "S": "ʃ",
    "Z": "ʒ", "x": "x", "h": "ɦ", "j": "j", "w": "w", "m": "m", "n": "n", "N": "ŋ", "l": "l",
    "r": "r", "?": "ʔ", "n-": "n̩",
}
# gr2 (README, UoA-TtS-PA): single letters for clusters: S [ts], Z [dz], X [ks], Y [ps], M [mʲ],
# N [ɲ], L [ʎ], V [ŋ] before g/q; c/q the palatal stops, C [ç], G [ɣ], R the r after a consonant.
_GR = {
    "a": "a", "e": "e", "i": "i", "o": "o", "u": "u", "p": "p", "b": "b", "t": "t", "d": "d",
    "k": "k", "c": "c", "g": "ɡ", "q": "ɟ", "f": "f", "v": "v", "T": "θ", "D": "ð", "s": "s",
    "z": "z", "G": "ɣ", "j": "ʝ", "x": "x", "C": "ç", "m": "m", "M": "mʲ", "n": "n", "N": "ɲ",
    "V": "ŋ", "r": "ɾ", "R": "ɾ", "l": "l", "L": "ʎ", "S": "ts", "Z": "dz", "X": "ks", "Y": "ps",
    "n-": "n̩",
}
# hu1 (README, Hungarian SAMPA): "O" is the rounded [ɒ], "2" [ø], "t'"/"d'" the palatal stops.
_HU = {
    "i": "i", "i:": "iː", "E": "ɛ", "e:": "eː", "O": "ɒ", "a:": "aː", "o": "o", "o:": "oː",
    "2": "ø", "2:": "øː", "u": "u", "u:": "uː", "y": "y", "y:": "yː", "p": "p", "b": "b",
    "t": "t", "d": "d", "t'": "c", "d'": "ɟ", "k": "k", "g": "ɡ", "ts": "ts", "dz": "dz",
    "tS": "tʃ", "dZ": "dʒ", "f": "f", "v": "v", "s": "s", "z": "z", "S": "ʃ", "Z": "ʒ",
    "m": "m", "n": "n", "J": "ɲ", "r": "r", "l": "l", "j": "j", "h": "h", "x": "x", "n-": "n̩",
}
# ro1 (ro1_phtrans names): "T" [ts], "C" [tʃ], "G" [dʒ], "J" [ʒ], "1" [ɨ]; E O I the glide/short
# vowels of ea, oa and final i.
_RO = {
    "i": "i", "e": "e", "a": "a", "@": "ə", "o": "o", "u": "u", "1": "ɨ", "E": "e", "O": "o",
    "I": "i", "j": "j", "w": "w", "p": "p", "b": "b", "t": "t", "d": "d", "k": "k", "g": "ɡ",
    "T": "ts", "C": "tʃ", "G": "dʒ", "f": "f", "v": "v", "s": "s", "z": "z", "S": "ʃ", "J": "ʒ",
    "h": "h", "m": "m", "n": "n", "l": "l", "r": "r", "n-": "n̩",
}
# sw1/sw2 (Swedish, README): ph th kh aspirated (sw2 "P" the plain p), r+consonant the retroflexes
# (sw1), "u0" [ɵ], "}:" [ʉː], "{" [æ], "9" [œ], "C" [ɕ], "S" the sj-sound [ɧ] (written [ʃ]: ipa.py
# has no [ɧ]; both round the lips).
_SW = {
    "i:": "iː", "i": "i", "e:": "eː", "E:": "ɛː", "y:": "yː", "}:": "ʉː", "2:": "øː", "u:": "uː",
    "o:": "oː", "A:": "ɑː", "I": "ɪ", "e": "e", "Y": "ʏ", "u0": "ɵ", "2": "ø", "U": "ʊ", "O": "ɔ",
    "a": "a", "{:": "æː", "9:": "œː", "{": "æ", "9": "œ", "@": "ə", "p": "p", "P": "p",
    "ph": "pʰ", "b": "b", "t": "t", "th": "tʰ", "d": "d", "k": "k", "kh": "kʰ", "g": "ɡ",
    "f": "f", "v": "v", "s": "s", "S": "ʃ", "C": "ɕ", "h": "h", "x": "x", "m": "m", "n": "n",
    "N": "ŋ", "r": "r", "l": "l", "j": "j", "rt": "ʈ", "rd": "ɖ", "rn": "ɳ", "rs": "ʂ", "rl": "ɭ",
    "rh": "ʈʰ", "n-": "n̩",
}

PHONE_SET_IPA: dict[str, dict[str, str]] = {
    "de": _DE, "de8": _DE8, "fr": _FR, "es": _ES, "es34": _ES34, "mx": _MX, "it12": _IT12,
    "it34": _IT34, "br": _BR, "br4": _BR4, "pt": _PT, "pl": _PL, "cs": _CS, "hi": _HI, "ar": _AR,
    "ja": _JA,
    # The same databases (and names) reading English through espeak's en voice.
    "de_en": dict(_DE), "fr_en": dict(_FR), "nl_en": _NL, "af_en": _AF, "gr_en": _GR,
    "hu_en": _HU, "pl_en": dict(_PL), "ro_en": _RO, "sw_en": _SW,
}
PHONE_SET_SILENCES: dict[str, tuple[str, ...]] = {name: ("_",) for name in PHONE_SET_IPA}

VOICE_PHONE_SET: dict[str, str] = {
    **{f"de{i}": "de" for i in range(1, 8)}, "de8": "de8",
    **{f"fr{i}": "fr" for i in range(1, 8)},
    "es1": "es", "es2": "es", "es3": "es34", "es4": "es34", "mx1": "mx", "mx2": "mx",
    "it1": "it12", "it2": "it12", "it3": "it34", "it4": "it34",
    "br1": "br", "br2": "br", "br3": "br", "br4": "br4", "pt1": "pt", "pl1": "pl",
    "cz1": "cs", "cz2": "cs", "in1": "hi", "in2": "hi", "ar1": "ar", "ar2": "ar",
    "jp1": "ja", "jp2": "ja", "jp3": "ja",
    **{f"de{i}-en": "de_en" for i in range(1, 7)}, "fr1-en": "fr_en", "fr4-en": "fr_en",
    "nl2-en": "nl_en", "af1-en": "af_en", "gr2-en": "gr_en", "hu1-en": "hu_en",
    "pl1-en": "pl_en", "ro1-en": "ro_en", "sw1-en": "sw_en", "sw2-en": "sw_en",
}
# The corpus language (server/corpus/texts/<code>.txt; "en" = server.corpus.text) each voice reads.
_NATIVE_LANGUAGE = {"de": "de", "fr": "fr", "es": "es", "mx": "es", "it": "it", "br": "pt",
                    "pt": "pt", "pl": "pl", "cz": "cs", "in": "hi", "ar": "ar", "jp": "ja"}
VOICE_LANGUAGE: dict[str, str] = {
    voice: "en" if voice.endswith("-en") else _NATIVE_LANGUAGE[voice[:2]] for voice in VOICE_PHONE_SET
}

# Names espeak writes for the voice (in the inventory text) that its database has no diphones for
# next to silence or any of the voice's 8 commonest vowels (probed with `mbrola -e`): MBROLA renders
# them as silence.
VOICE_MISSING_PHONES: dict[str, frozenset[str]] = {
    **{v: frozenset({"n-"}) for v in ("de1-en", "de2-en", "de3-en", "nl2-en", "af1-en", "gr2-en",
                                      "pl1-en", "ro1-en")},
    "de4-en": frozenset({"?EI", "n-"}), "de5-en": frozenset({"?"}),
    **{v: frozenset({"n-", "x"}) for v in ("fr1-en", "fr4-en", "hu1-en", "sw1-en")},
    "sw2-en": frozenset({"i", "n-", "x"}),
    "de6": frozenset({"E~"}), "de7": frozenset({"E~"}),
    "de8": frozenset({"0", "A@", "E2", "OY", "T", "UR", "W~", "Y:", "dZ", "eI", "i", "oU", "pF",
                      "tS"}),
    "es1": frozenset({"e/", "o/"}), "es2": frozenset({"e/", "o/"}),
    "es3": frozenset({"J^", "L", "R2", "aI", "aU", "dZ", "eI", "h", "oI", "tS"}),
    "es4": frozenset({"J^", "R2", "aI", "aU", "dZ", "eI", "j", "oI"}),
    "mx1": frozenset({"e/", "l^", "o/"}), "mx2": frozenset({"e/", "l^", "o/"}),
    **{v: frozenset({"U1", "dZ", "j", "ss", "tS", "ts2"}) for v in ("it1", "it2")},
    **{v: frozenset({"i/", "ss", "ts2"}) for v in ("it3", "it4")},
    "pt1": frozenset({"oo"}), "pl1": frozenset({"E#"}),
    "cz1": frozenset({"d'", "dZ", "dz", "h\\", "n'", "r'", "t'", "ts"}),
    **{v: frozenset({"Q", "a~", "e~", "f", "i~", "q", "r.", "x", "z"}) for v in ("in1", "in2")},
    "ar1": frozenset({"R", "gH"}), "ar2": frozenset({"Q", "R"}),
    "jp1": frozenset({"c", "r"}), "jp2": frozenset({"N", "U", "c"}), "jp3": frozenset({"U", "c", "r"}),
}


def mbrola_phone_ipa(name: str, phone_set: str) -> str:
    """The IPA of one phone of `phone_set` ("" for a silence); UnknownPhone when it is not listed."""
    if phone_set not in PHONE_SET_IPA:
        raise UnknownPhone(f"no table for MBROLA phone set {phone_set!r}")
    if name in PHONE_SET_SILENCES[phone_set]:
        return ""
    ipa = PHONE_SET_IPA[phone_set].get(name)
    if ipa is None:
        raise UnknownPhone(f"MBROLA {phone_set} phone {name!r} has no IPA in mbrola_phones")
    return ipa


def mbrola_to_arpabet(name: str, phone_set: str) -> tuple[str, ...]:
    """An MBROLA phone of `phone_set` (VOICE_PHONE_SET[voice]) -> ARPAbet targets (silence -> SIL)."""
    ipa = mbrola_phone_ipa(name, phone_set)
    if not ipa:
        return ("SIL",)
    return phone_ipa_to_arpabet(ipa, f"MBROLA {phone_set} phone {name!r}")


# Voices whose missing diphones fall on common sounds (whole unstressed vowels in es1/es2/mx, the
# Spanish tap in es3/es4, affricates in it1/it2, Czech palatals in cz1, Hindi f z x and nasal
# vowels, sw2-en's "i", most of de8): the corpus leaves them out, so no phrase has a silent hole
# in a word. Their tables stay, for whoever renders them anyway.
UNUSED_VOICES = frozenset({"de8", "es1", "es2", "es3", "es4", "mx1", "mx2", "it1", "it2", "cz1", "in1", "in2",
                           "sw2-en"})
# A missing name rendered as its nearest recorded one rather than as silence: syllabic n (missing in
# 14 of the 16 "-en" voices) as plain n. The phone times and labels stay the score's.
MISSING_SUBSTITUTES = {"n-": "n"}


def renderable_score(score: str, voice: str) -> str:
    """The .pho score with the voice's missing names that have a substitute replaced by it."""
    missing = VOICE_MISSING_PHONES.get(voice, frozenset()) & MISSING_SUBSTITUTES.keys()
    if not missing:
        return score
    lines = []
    for line in score.splitlines():
        name, sep, rest = line.partition("\t")
        lines.append(MISSING_SUBSTITUTES[name] + sep + rest if name in missing else line)
    return "\n".join(lines) + "\n"
