"""Any language's phones -> the teacher's ARPAbet targets, through articulatory features (IPA).

The teacher (server/teacher) has one lip/jaw target per ARPAbet phone. Other languages' sounds are
mapped by what the LIPS and JAW do, not by spelling: each IPA base symbol has articulatory
features (consonant: place, manner, voicing; vowel: height, backness, rounding) and
`consonant_target` / `vowel_target` pick the ARPAbet phone whose mouth shape is nearest
(bilabial stops -> P/B/M, labiodentals -> F/V, front rounded vowels -> rounded targets by height,
open vowels -> AA/AE, uvular and pharyngeal fricatives -> HH, ...). docs/TEACHER.md, "Other
languages", has the table with examples.

espeak-ng events arrive as (mnemonic, IPA) pairs (server.corpus.engines): the mnemonic says what
is a pause or a modifier, the IPA says the sound (mnemonics mean different sounds in different
languages: "Q" is Spanish [ɣ] but Arabic's ayn is "A"). Where espeak has no IPA for a phoneme it
sends the mnemonic again; those are parsed by stripping the modifiers a mnemonic carries (digits,
#, ;, :, ~, ^, ', -, ...) through MNEMONIC_IPA. Anything else raises UnknownPhone with its name.
"""
from __future__ import annotations

import unicodedata
from typing import NamedTuple

from .phones import UnknownPhone

# ------------------------------------------------------------------------------- features
# place, manner, voiced. Places: bilabial labiodental dental alveolar postalveolar retroflex
# alveolopalatal palatal labiovelar velar uvular pharyngeal glottal.
CONSONANTS: dict[str, tuple[str, str, bool]] = {
    "p": ("bilabial", "stop", False), "b": ("bilabial", "stop", True),
    "m": ("bilabial", "nasal", True), "ɸ": ("bilabial", "fricative", False),
    "β": ("bilabial", "fricative", True), "ʙ": ("bilabial", "trill", True),
    "f": ("labiodental", "fricative", False), "v": ("labiodental", "fricative", True),
    "ɱ": ("labiodental", "nasal", True), "ʋ": ("labiodental", "approximant", True),
    "θ": ("dental", "fricative", False), "ð": ("dental", "fricative", True),
    "t": ("alveolar", "stop", False), "d": ("alveolar", "stop", True),
    "n": ("alveolar", "nasal", True), "s": ("alveolar", "fricative", False),
    "z": ("alveolar", "fricative", True), "r": ("alveolar", "trill", True),
    "ɾ": ("alveolar", "tap", True), "ɹ": ("alveolar", "approximant", True),
    "l": ("alveolar", "lateral", True), "ɬ": ("alveolar", "lateral", False),
    "ɫ": ("alveolar", "lateral", True),    # velarised (dark) l: the lips and jaw of l
    "ɮ": ("alveolar", "lateral", True),
    "ʃ": ("postalveolar", "fricative", False), "ʒ": ("postalveolar", "fricative", True),
    "ʈ": ("retroflex", "stop", False), "ɖ": ("retroflex", "stop", True),
    "ɳ": ("retroflex", "nasal", True), "ʂ": ("retroflex", "fricative", False),
    "ʐ": ("retroflex", "fricative", True), "ɽ": ("retroflex", "tap", True),
    "ɻ": ("retroflex", "approximant", True), "ɭ": ("retroflex", "lateral", True),
    "ɕ": ("alveolopalatal", "fricative", False), "ʑ": ("alveolopalatal", "fricative", True),
    "c": ("palatal", "stop", False), "ɟ": ("palatal", "stop", True),
    "ɲ": ("palatal", "nasal", True), "ç": ("palatal", "fricative", False),
    "ʝ": ("palatal", "fricative", True), "j": ("palatal", "approximant", True),
    "ʎ": ("palatal", "lateral", True), "ɥ": ("labiopalatal", "approximant", True),
    "w": ("labiovelar", "approximant", True), "ʍ": ("labiovelar", "fricative", False),
    "k": ("velar", "stop", False), "g": ("velar", "stop", True), "ɡ": ("velar", "stop", True),
    "ŋ": ("velar", "nasal", True), "x": ("velar", "fricative", False),
    "ɣ": ("velar", "fricative", True), "ɰ": ("velar", "approximant", True),
    "ʟ": ("velar", "lateral", True),
    "q": ("uvular", "stop", False), "ɢ": ("uvular", "stop", True), "ɴ": ("uvular", "nasal", True),
    "χ": ("uvular", "fricative", False), "ʁ": ("uvular", "fricative", True),
    "ʀ": ("uvular", "trill", True),
    "ħ": ("pharyngeal", "fricative", False), "ʕ": ("pharyngeal", "fricative", True),
    "ʔ": ("glottal", "stop", False), "h": ("glottal", "fricative", False),
    "ɦ": ("glottal", "fricative", True),
}
# Affricates: a stop and a fricative in one phoneme.
AFFRICATES: dict[str, tuple[str, str, bool]] = {
    "ts": ("alveolar", "affricate", False), "dz": ("alveolar", "affricate", True),
    "tʃ": ("postalveolar", "affricate", False), "dʒ": ("postalveolar", "affricate", True),
    "tʂ": ("retroflex", "affricate", False), "dʐ": ("retroflex", "affricate", True),
    "tɕ": ("alveolopalatal", "affricate", False), "dʑ": ("alveolopalatal", "affricate", True),
    "pf": ("labiodental", "affricate", False), "bv": ("labiodental", "affricate", True),
    "tθ": ("dental", "affricate", False), "dð": ("dental", "affricate", True),
}
# height 0 close .. 6 open; backness front | central | back; rounded.
VOWELS: dict[str, tuple[int, str, bool]] = {
    "i": (0, "front", False), "y": (0, "front", True), "ɨ": (0, "central", False),
    "ʉ": (0, "central", True), "ɯ": (0, "back", False), "u": (0, "back", True),
    "ɪ": (1, "front", False), "ʏ": (1, "front", True), "ʊ": (1, "back", True),
    "e": (2, "front", False), "ø": (2, "front", True), "ɘ": (2, "central", False),
    "ɵ": (2, "central", True), "ɤ": (2, "back", False), "o": (2, "back", True),
    "ə": (3, "central", False), "ɚ": (3, "central", False),
    "ɛ": (4, "front", False), "œ": (4, "front", True), "ɜ": (4, "central", False),
    "ɝ": (4, "central", False), "ɞ": (4, "central", True), "ʌ": (4, "back", False),
    "ɔ": (4, "back", True),
    "æ": (5, "front", False), "ɐ": (5, "central", False),
    "a": (6, "front", False), "ɶ": (6, "front", True), "ä": (6, "central", False),
    "ɑ": (6, "back", False), "ɒ": (6, "back", True),
}
RHOTIC_VOWELS = frozenset("ɚɝ")
# Marks that change a sound without changing the lips' or jaw's target: length, nasality,
# aspiration, palatalisation, pharyngealisation, dental/syllabic/non-syllabic, stress, tone.
_MODIFIERS = frozenset("ːˑʰʱʲˤˠʷ'ˈˌ-\"#;,:~^!|*+=_0123456789˥˦˧˨˩")   # ʱ: breathy, as ʰ


def _consonant_targets(place: str, manner: str, voiced: bool) -> tuple[str, ...]:
    """The ARPAbet consonant(s) whose lips and jaw are nearest (a pair splits the span)."""
    if place == "bilabial":
        if manner == "nasal":
            return ("M",)
        if manner in ("stop", "trill"):
            return ("B",) if voiced else ("P",)
        return ("V",) if voiced else ("F",)         # [β ɸ]: lips approach without closing
    if place == "labiodental":
        if manner == "affricate":
            return ("B", "V") if voiced else ("P", "F")
        return ("V",) if voiced or manner in ("nasal", "approximant") else ("F",)
    if place in ("labiovelar", "labiopalatal"):
        return ("W",)                                # rounded, protruded lips
    if manner == "nasal":
        return {"velar": ("NG",), "uvular": ("NG",)}.get(place, ("N",))
    if manner == "lateral":
        return ("L",)
    if place == "dental":
        if manner == "fricative":
            return ("DH",) if voiced else ("TH",)
        if manner == "affricate":
            return ("D", "DH") if voiced else ("T", "TH")
        return ("D",) if voiced else ("T",)
    if place in ("alveolar", "postalveolar", "retroflex", "alveolopalatal"):
        if manner in ("trill", "tap"):
            return ("D",)                            # a tongue-tip tap, like English flap [ɾ]
        if manner == "approximant":
            return ("R",)
        if manner == "stop":
            return ("D",) if voiced else ("T",)
        if manner == "affricate":
            if place == "alveolar":
                return ("D", "Z") if voiced else ("T", "S")
            return ("JH",) if voiced else ("CH",)
        if place == "alveolar":
            return ("Z",) if voiced else ("S",)
        return ("ZH",) if voiced else ("SH",)        # [ʃ ʒ ʂ ʐ ɕ ʑ]
    if place == "palatal":
        if manner == "stop":
            return ("JH",) if voiced else ("CH",)    # Hindi/Swahili [c ɟ] are nearly affricates
        if manner == "fricative" and not voiced:
            return ("HH",)                           # German ich-Laut [ç], as in English tables
        return ("Y",)
    if place == "velar":
        if manner == "approximant":
            return ("G",)
        return ("G",) if voiced else ("K",)          # [x ɣ] as English's espeak "x" -> K
    if place == "uvular":
        if manner == "stop":
            return ("G",) if voiced else ("K",)
        return ("HH",)                               # [χ ʁ ʀ]: the lips and jaw are free
    if place in ("pharyngeal", "glottal"):
        if manner == "stop":
            return ("T",)                            # [ʔ], as espeak English "?"
        return ("HH",)
    raise UnknownPhone(f"no ARPAbet target for a {place} {manner}")


def consonant_target(place: str, manner: str, voiced: bool) -> tuple[str, ...]:
    return _consonant_targets(place, manner, voiced)


def vowel_target(height: int, backness: str, rounded: bool, rhotic: bool = False) -> str:
    """The ARPAbet vowel whose lip rounding and jaw opening are nearest. Rounding is what shows,
    so front rounded vowels ([y ø œ]) take rounded targets by height, not front ones."""
    if rhotic:
        return "ER"
    if rounded:
        return ("UW", "UH", "OW", "OW", "AO", "AO", "AO")[height]
    if backness == "front":
        return ("IY", "IH", "EY", "EH", "EH", "AE", "AA")[height]
    if backness == "central":
        return ("IH", "IH", "AH", "AH", "AH", "AH", "AA")[height]
    return ("IH", "IH", "AH", "AH", "AH", "AA", "AA")[height]


# Vowel pairs the teacher has a diphthong target for (first vowel's group, second's group).
_DIPHTHONGS = {("a", "i"): "AY", ("a", "u"): "AW", ("e", "i"): "EY", ("o", "u"): "OW",
               ("o", "i"): "OY"}
_GROUP = {"a": "a", "ä": "a", "ɑ": "a", "æ": "a", "ɐ": "a", "e": "e", "ɛ": "e", "o": "o",
          "ɔ": "o", "i": "i", "ɪ": "i", "j": "i", "y": "i", "ø": "i", "u": "u", "ʊ": "u", "w": "u"}


class Segment(NamedTuple):
    """One parsed sound: its IPA base symbol and features."""
    symbol: str
    kind: str                # "consonant" | "vowel"
    features: tuple          # consonant: (place, manner, voiced); vowel: (height, backness, rounded)
    long: bool = False
    nasal: bool = False


# espeak ASCII that it sends where it has no IPA (after its modifiers are stripped), by meaning.
MNEMONIC_IPA = {
    "@": "ə", "3": "ɜ", "0": "ɒ", "&": "æ", "A": "ɑ", "E": "ɛ", "I": "ɪ", "O": "ɔ", "U": "ʊ",
    "V": "ʌ", "W": "œ", "Y": "ø", "8": "ɵ", "u\"": "ʉ", "UR": "ʊɐ", "@r": "ɚ", "i.": "ɨ",
    "a.": "ɑ", "o-": "o", "a-": "a", "e-": "e", "y-": "y", "ə-": "ə", "ss": "s", "r.": "ɽ",
    "s.": "ʂ", "z.": "ʐ", "ts.": "tʂ", "ts.h": "tʂ", "tS;h": "tɕ", "kh": "k", "ph": "p", "th": "t",
    "tɕh": "tɕ", "onɡ": "ʊŋ", "ong": "ʊŋ", "S": "ʃ", "Z": "ʒ", "T": "θ", "D": "ð", "N": "ŋ",
    "C": "ç", "x": "x", "Q": "ɣ", "j": "j", "J": "ɟ", "n^": "ɲ", "l^": "ʎ", "tS": "tʃ", "dZ": "dʒ",
    "**": "ɾ", "*": "ɾ", "R": "r", "?": "ʔ",
}
# Where a language's espeak IPA is its ASCII mnemonic with another meaning, or too broad: Russian
# "y" is [ɨ] (ы), Brazilian Portuguese "y" a reduced [ɪ] (de [dʒɪ]), Mandarin "i[" the apical
# vowel after s/z/c, Arabic "i." a plain [i] next to an emphatic.
LANGUAGE_MNEMONIC_IPA = {"ru": {"y": "ɨ"}, "pt": {"y": "ɪ"}, "cmn": {"i[": "ɨ"}, "ar": {"i.": "i"}}
_RETROFLEX_DOT = {"s": "ʂ", "z": "ʐ", "t": "ʈ", "d": "ɖ", "n": "ɳ", "r": "ɽ", "l": "ɭ"}


def parse_ipa(text: str) -> list[Segment]:
    """IPA (or espeak's dotted-retroflex ASCII) -> segments; raises UnknownPhone on a symbol
    with no features. Modifiers (length, nasal, aspiration, palatalisation, tones) are dropped
    after noting length and nasality; a stop + fricative pair is one affricate; an 'h' after a
    stop is aspiration."""
    chars = [ch for ch in unicodedata.normalize("NFD", text)]
    out: list[Segment] = []
    i = 0
    while i < len(chars):
        ch = chars[i]
        if ch == "c" and i + 1 < len(chars) and chars[i + 1] == "\u0327":
            ch = "ç"                                 # NFD splits [ç] into c + cedilla
            i += 1
        if ch in "ː:" and out:
            out[-1] = out[-1]._replace(long=True)
        elif ch in "\u0303~" and out:               # combining tilde / espeak "~": nasalised
            out[-1] = out[-1]._replace(nasal=True)
        elif ch == "ᵝ" and out and out[-1].kind == "vowel":
            # Compressed lips (Japanese [ɯᵝ]): rounded, but less than a protruded [u].
            h, b, _ = out[-1].features
            out[-1] = out[-1]._replace(features=(min(h + 1, 6), b, True))
        elif ch in "rɹɻ" and out and out[-1].symbol == "ə" and i == len(chars) - 1:
            out[-1] = Segment("ɚ", "vowel", VOWELS["ɚ"])   # r-coloured schwa (Mandarin "er")
        elif ch == "." and out and out[-1].kind == "consonant" and out[-1].symbol[-1] in _RETROFLEX_DOT:
            last = out[-1]
            sym = last.symbol[:-1] + _RETROFLEX_DOT[last.symbol[-1]]
            feats = AFFRICATES.get(sym) or CONSONANTS.get(sym)
            out[-1] = last._replace(symbol=sym, features=feats)
        elif ch == "." and out and out[-1].kind == "vowel" and out[-1].symbol == "i":
            out[-1] = Segment("ɨ", "vowel", VOWELS["ɨ"])   # Mandarin apical vowel after s./ts.
        elif ch == "." or ch in _MODIFIERS or unicodedata.combining(ch):
            pass
        elif ch == "h" and out and out[-1].kind == "consonant" and out[-1].features[1] in ("stop", "affricate"):
            pass                                      # aspiration
        elif ch in VOWELS:
            out.append(Segment(ch, "vowel", VOWELS[ch]))
        elif ch in CONSONANTS:
            prev = out[-1] if out else None
            pair = (prev.symbol + ch) if prev is not None and prev.kind == "consonant" else ""
            if pair in AFFRICATES:
                out[-1] = Segment(pair, "consonant", AFFRICATES[pair])
            else:
                out.append(Segment(ch, "consonant", CONSONANTS[ch]))
        else:
            raise UnknownPhone(f"IPA symbol {ch!r} (U+{ord(ch):04X}) in {text!r} has no features")
        i += 1
    # [nɡ] at the end of a syllable is [ŋ] (espeak's Mandarin "ong").
    if len(out) >= 2 and out[-2].symbol == "n" and out[-1].symbol in ("ɡ", "g"):
        out[-2:] = [Segment("ŋ", "consonant", CONSONANTS["ŋ"])]
    return out


def segments_to_arpabet(segments: list[Segment]) -> tuple[str, ...]:
    """ARPAbet targets for one phoneme's segments: a known vowel pair is one diphthong target,
    other vowel sequences and consonant clusters split the span (to_arpabet splits it equally)."""
    out: list[str] = []
    k = 0
    while k < len(segments):
        seg = segments[k]
        if seg.kind == "vowel":
            nxt = segments[k + 1] if k + 1 < len(segments) else None
            if nxt is not None and nxt.kind == "vowel":
                diph = _DIPHTHONGS.get((_GROUP.get(seg.symbol, ""), _GROUP.get(nxt.symbol, "")))
                if diph:
                    out.append(diph)
                    k += 2
                    continue
            h, b, r = seg.features
            out.append(vowel_target(h, b, r, seg.symbol in RHOTIC_VOWELS))
        else:
            out.extend(consonant_target(*seg.features))
        k += 1
    return tuple(out)


def ipa_to_arpabet(text: str) -> tuple[str, ...]:
    return segments_to_arpabet(parse_ipa(text))


def phone_ipa_to_arpabet(ipa: str, what: str) -> tuple[str, ...]:
    """ipa_to_arpabet for one engine phone, `what` naming it in the UnknownPhone raised when its
    IPA has no features or no target (e.g. "espeak phoneme 'Q'")."""
    try:
        targets = ipa_to_arpabet(ipa)
    except UnknownPhone as exc:
        raise UnknownPhone(f"{what} (IPA {ipa!r}): {exc}") from None
    if not targets:
        raise UnknownPhone(f"{what} (IPA {ipa!r}) has no ARPAbet mapping")
    return targets


def _strip_mnemonic(name: str) -> str:
    return "".join(ch for ch in name if ch not in "0123456789#;:~^',-!\"[")


def espeak_to_arpabet(name, language: str | None = None) -> tuple[str, ...]:
    """Map an espeak event of a non-English voice: a (mnemonic, IPA) pair (or a bare mnemonic)
    of corpus language `language` (a code, for LANGUAGE_MNEMONIC_IPA).

    () means 'absorb into the previous phone' (espeak's palatalisation/stress modifiers)."""
    mnemonic, ipa = name if isinstance(name, tuple) else (name, "")
    ipa = LANGUAGE_MNEMONIC_IPA.get(language, {}).get(mnemonic, ipa)
    if mnemonic in (";", "'", ",", "") or (ipa and all(ch in _MODIFIERS for ch in ipa)):
        return ()
    if mnemonic.startswith("_") or mnemonic in ("||", "|"):
        return ("SIL",)
    if not ipa or ipa == mnemonic or "?" in ipa:
        # espeak sends its mnemonic (ASCII, "??") where it has no IPA: parse the mnemonic.
        stripped = _strip_mnemonic(mnemonic)
        ipa = MNEMONIC_IPA.get(mnemonic) or MNEMONIC_IPA.get(stripped) or stripped
    return phone_ipa_to_arpabet(ipa, f"espeak phoneme {mnemonic!r}")
