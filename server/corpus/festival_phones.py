"""The phone sets of Debian's non-English festival voices -> IPA -> ARPAbet (server.corpus.ipa).

Each table lists every phone of the voice's festival phone set (as `(PhoneSet.description)`
prints it once the voice is selected) with its IPA; the IPA then goes through ipa.py's
articulatory features to the teacher's ARPAbet targets, like espeak's IPA for the same language.
Silences map to SIL; a name outside the table raises UnknownPhone with the phone set's name.

- italian (pc_diphone, lp_diphone; festlex-ifd): SAMPA, a trailing "1" marks a stressed vowel.
- msu_ru (msu_ru_nsh_clunits): doubled letters are the palatalised consonants (pp = [pʲ]);
  aa ee ii oo uu yy are stressed vowels, a e i u y their reduced forms, ay/ae the schwa and ur a
  reduced [ʊ].
- czech (czech_ph, czech_dita, czech_machac, czech_krb; festival-czech): "~" marks the háček or
  palatal (c~ = č, r~ = ř, t~ = ť), ":" a long vowel, n* the velar [ŋ], "_" a short pause.
- finnish (suo_fi_lj_diphone, hy_fi_mv_diphone; suopuhe): "@" is ä [æ], "7" ö [ø], ":" marks a
  long vowel or geminate consonant, "#" and "##" pauses.
"""
from __future__ import annotations

from .ipa import phone_ipa_to_arpabet
from .phones import UnknownPhone

PHONE_SET_IPA: dict[str, dict[str, str]] = {
    "italian": {
        "i": "i", "e": "e", "E": "ɛ", "a": "a", "o": "o", "O": "ɔ", "u": "u",
        "i1": "i", "e1": "e", "E1": "ɛ", "a1": "a", "o1": "o", "O1": "ɔ", "u1": "u",
        "j": "j", "w": "w", "p": "p", "t": "t", "k": "k", "b": "b", "d": "d", "g": "ɡ",
        "f": "f", "s": "s", "S": "ʃ", "v": "v", "z": "z", "Z": "ʒ", "ts": "ts", "tS": "tʃ",
        "dz": "dz", "dZ": "dʒ", "m": "m", "n": "n", "J": "ɲ", "ng": "ŋ", "nf": "ɱ", "l": "l",
        "L": "ʎ", "r": "r",
    },
    "msu_ru": {
        "ii": "i", "yy": "ɨ", "uu": "u", "ee": "e", "oo": "o", "aa": "a",
        "a": "ɐ", "e": "ɪ", "i": "ɪ", "y": "ɨ", "u": "u", "ae": "ə", "ay": "ə", "ur": "ʊ",
        "p": "p", "pp": "pʲ", "b": "b", "bb": "bʲ", "t": "t", "tt": "tʲ", "d": "d", "dd": "dʲ",
        "k": "k", "kk": "kʲ", "g": "ɡ", "gg": "ɡʲ", "c": "ts", "ch": "tɕ", "f": "f", "ff": "fʲ",
        "v": "v", "vv": "vʲ", "s": "s", "ss": "sʲ", "z": "z", "zz": "zʲ", "sh": "ʂ", "sch": "ɕː",
        "zh": "ʐ", "h": "x", "hh": "xʲ", "m": "m", "mm": "mʲ", "n": "n", "nn": "nʲ", "l": "ɫ",
        "ll": "lʲ", "r": "r", "rr": "rʲ", "j": "j",
    },
    "czech": {
        "a": "a", "a:": "aː", "e": "ɛ", "e:": "ɛː", "i": "ɪ", "i:": "iː", "o": "o", "o:": "oː",
        "u": "u", "u:": "uː", "b": "b", "c": "ts", "c~": "tʃ", "ch": "x", "d": "d", "d~": "ɟ",
        "dz": "dz", "dz~": "dʒ", "f": "f", "g": "ɡ", "h": "ɦ", "j": "j", "k": "k", "l": "l",
        "m": "m", "n": "n", "n*": "ŋ", "n~": "ɲ", "p": "p", "r": "r", "r~": "r̝", "r~*": "r̝̊",
        "s": "s", "s~": "ʃ", "t": "t", "t~": "c", "v": "v", "z": "z", "z~": "ʒ",
    },
    "finnish": {
        "a": "ɑ", "e": "e", "i": "i", "o": "o", "u": "u", "y": "y", "@": "æ", "7": "ø", "&": "ə",
        "p": "p", "t": "t", "k": "k", "b": "b", "d": "d", "g": "ɡ", "f": "f", "T": "θ", "D": "ð",
        "s": "s", "z": "z", "S": "ʃ", "Z": "ʒ", "h": "h", "v": "ʋ", "m": "m", "n": "n", "N": "ŋ",
        "l": "l", "L": "l", "r": "r", "j": "j", "w": "w",
    },
}
# Each phone set's silences (its `silences` entry; czech "_" is its short pause).
PHONE_SET_SILENCES = {"italian": ("#",), "msu_ru": ("pau",), "czech": ("#", "_"),
                      "finnish": ("#", "##")}


def festival_phone_ipa(name: str, phone_set: str) -> str:
    """The IPA of one phone of `phone_set` ("" for a silence); UnknownPhone when it is not listed."""
    if phone_set not in PHONE_SET_IPA:
        raise UnknownPhone(f"no table for festival phone set {phone_set!r}")
    if name in PHONE_SET_SILENCES[phone_set]:
        return ""
    table = PHONE_SET_IPA[phone_set]
    ipa = table.get(name)
    if ipa is None and phone_set == "finnish" and name.endswith(":"):
        base = table.get(name[:-1])                   # long vowels and geminates: p: t: a: ...
        ipa = base + "ː" if base is not None else None
    if ipa is None:
        raise UnknownPhone(f"festival {phone_set} phone {name!r} has no IPA in festival_phones")
    return ipa


def festival_to_arpabet(name: str, phone_set: str) -> tuple[str, ...]:
    """A festival phone of `phone_set` -> ARPAbet targets (a silence -> SIL)."""
    ipa = festival_phone_ipa(name, phone_set)
    if not ipa:
        return ("SIL",)
    return phone_ipa_to_arpabet(ipa, f"festival {phone_set} phone {name!r}")
