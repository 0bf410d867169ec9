"""Phone sets: engine phone names -> ARPAbet (docs/ARCHITECTURE.md), span utilities, stop correction."""
from __future__ import annotations

import re

import numpy as np

from server.phones import NON_SPEECH, PHONES, STOPS

Phones = list[tuple[str, float, float]]

# espeak-ng English phoneme mnemonics (gmw/en* voices). A tuple splits the span equally.
# Entries whose ARPAbet depends on rhoticity are in _ESPEAK_RHOTIC / _ESPEAK_NON_RHOTIC.
_ESPEAK = {
    "_": ("SIL",), "_:": ("SIL",), "_!": ("SIL",), "_;": ("SIL",), "_|": ("SIL",), "||": ("SIL",),
    "p": ("P",), "b": ("B",), "t": ("T",), "d": ("D",), "k": ("K",), "g": ("G",),
    "t#": ("T",), "t2": ("T",), "t[": ("T",), "d#": ("D",), "d2": ("D",), "?": ("T",),
    "tS": ("CH",), "dZ": ("JH",), "f": ("F",), "v": ("V",), "T": ("TH",), "D": ("DH",),
    "s": ("S",), "z": ("Z",), "S": ("SH",), "Z": ("ZH",), "h": ("HH",), "x": ("K",), "C": ("HH",),
    "m": ("M",), "n": ("N",), "N": ("NG",), "m-": ("M",), "n-": ("N",), "l": ("L",), "l-": ("L",),
    "L": ("L",), "r": ("R",), "r-": ("R",), "w": ("W",), "w#": ("W",), "W": ("W",), "j": ("Y",),
    "a": ("AE",), "a#": ("AH",), "aa": ("AA",), "a2": ("AE",), "A:": ("AA",), "A": ("AA",),
    "aI": ("AY",), "aI2": ("AY",), "aU": ("AW",), "e": ("EH",), "E": ("EH",), "E2": ("EH",),
    "eI": ("EY",), "i": ("IY",), "i:": ("IY",), "I": ("IH",), "I#": ("IH",), "I2": ("IH",),
    "0": ("AA",), "0#": ("AA",), "O": ("AO",), "O:": ("AO",), "O2": ("AO",), "OI": ("OY",),
    "o": ("OW",), "o:": ("OW",), "oU": ("OW",), "@U": ("OW",), "@": ("AH",), "@2": ("AH",),
    "@5": ("AH",), "@L": ("AH", "L"), "V": ("AH",), "3:": ("ER",), "u:": ("UW",), "u": ("UW",),
    "U": ("UH",), "IR": ("IH", "R"), "VR": ("AH", "R"), "ju:": ("Y", "UW"),
}
_ESPEAK_RHOTIC = {
    "A@": ("AA", "R"), "i@": ("IH", "R"), "i@3": ("IH", "R"), "e@": ("EH", "R"), "U@": ("UH", "R"),
    "o@": ("AO", "R"), "O@": ("AO", "R"), "aI@": ("AY", "ER"), "aI3": ("AY", "ER"),
    "aU@": ("AW", "ER"), "aU3": ("AW", "ER"), "3": ("ER",),
}
_ESPEAK_NON_RHOTIC = {
    "A@": ("AA",), "i@": ("IH", "AH"), "i@3": ("IH", "AH"), "e@": ("EH", "AH"), "U@": ("UH", "AH"),
    "o@": ("AO",), "O@": ("AO",), "aI@": ("AY", "AH"), "aI3": ("AY", "AH"),
    "aU@": ("AW", "AH"), "aU3": ("AW", "AH"), "3": ("AH",),
}
RHOTIC_ESPEAK_ACCENTS = ("en-us", "en-us-nyc", "en-029", "en-gb-scotland")
# espeak's "0" (LOT) is unrounded [A] in American English (ARPAbet AA) and rounded [Q]/[O] elsewhere
# (closest ARPAbet: AO), which matters for the lips.
UNROUNDED_LOT_ESPEAK_ACCENTS = ("en-us", "en-us-nyc")

# flite and festival (CMU/radio phone sets) use lowercase ARPAbet with a few extras.
_CMU_EXTRA = {"pau": ("SIL",), "h#": ("SIL",), "brth": ("BR",), "ax": ("AH",), "axr": ("ER",),
              "dx": ("D",), "nx": ("N",), "el": ("AH", "L"), "em": ("AH", "M"), "en": ("AH", "N"),
              "hv": ("HH",), "ix": ("IH",), "ux": ("UW",), "q": ("T",)}


# MBROLA's English voices (us1-3 American, en1 British) read SAMPA as espeak-ng's mb-* voices write
# it; the names espeak's own table has (b, tS, @U, I, ...) mean the same there. The rest:
_MBROLA_EXTRA = {
    "4": ("D",), "p_h": ("P",), "t_h": ("T",), "k_h": ("K",), "{": ("AE",), "A": ("AA",),
    "AI": ("AY",), "EI": ("EY",), "r=": ("ER",), "5": ("L",), "l=": ("AH", "L"), "Q": ("AO",),
    "i": ("IY",), "u": ("UW",), "I@": ("IH", "AH"), "e@": ("EH", "AH"), "U@": ("UH", "AH"),
}


class UnknownPhone(ValueError):
    pass


def espeak_to_arpabet(name: str, *, rhotic: bool, rounded_lot: bool = False) -> tuple[str, ...]:
    """Map an espeak-ng phoneme mnemonic; () means 'absorb into the previous phone' (modifiers)."""
    if name in (";", "'", ",", ""):           # palatalisation/stress marks carry no duration of their own
        return ()
    if rounded_lot and name in ("0", "0#"):
        return ("AO",)
    table = _ESPEAK_RHOTIC if rhotic else _ESPEAK_NON_RHOTIC
    for candidate in (name, name.rstrip(";"), re.sub(r"[#0-9;\[]+$", "", name)):
        if candidate in table:
            return table[candidate]
        if candidate in _ESPEAK:
            return _ESPEAK[candidate]
    raise UnknownPhone(f"espeak phoneme {name!r} has no ARPAbet mapping")


def mbrola_to_arpabet(name: str) -> tuple[str, ...]:
    if name in _MBROLA_EXTRA:
        return _MBROLA_EXTRA[name]
    if name in _ESPEAK:
        return _ESPEAK[name]
    raise UnknownPhone(f"MBROLA phone {name!r} has no ARPAbet mapping")


def cmu_to_arpabet(name: str) -> tuple[str, ...]:
    lower = name.lower()
    if lower in _CMU_EXTRA:
        return _CMU_EXTRA[lower]
    upper = re.sub(r"\d", "", name).upper()
    if upper in PHONES:
        return (upper,)
    raise UnknownPhone(f"flite/festival phone {name!r} has no ARPAbet mapping")


def to_arpabet(raw: Phones, mapper) -> Phones:
    """Map raw engine spans to ARPAbet spans, splitting multi-phone mappings equally."""
    out: Phones = []
    for name, start, end in raw:
        targets = mapper(name)
        if not targets:
            if out:
                p, s, _ = out[-1]
                out[-1] = (p, s, end)
            else:
                out.append(("SIL", start, end))
            continue
        step = (end - start) / len(targets)
        for k, target in enumerate(targets):
            out.append((target, start + k * step, end if k == len(targets) - 1 else start + (k + 1) * step))
    return merge_silences(out)


def merge_silences(phones: Phones) -> Phones:
    """Join adjacent spans of the same silence label (SIL+SIL); speech phones stay separate."""
    out: Phones = []
    for p, s, e in phones:
        if e <= s:
            continue
        if out and p == "SIL" and out[-1][0] == "SIL":
            out[-1] = ("SIL", out[-1][1], e)
        else:
            out.append((p, s, e))
    return out


def absorb_short_pauses(phones: Phones, min_pause: float = 0.02) -> Phones:
    """Give pauses shorter than `min_pause` between two speech phones to the phone before them:
    word-boundary micro-pauses are not rests, and the mouth does not close for them."""
    out: Phones = []
    for i, (p, s, e) in enumerate(phones):
        internal = 0 < i < len(phones) - 1 and out and out[-1][0] not in NON_SPEECH
        if p == "SIL" and e - s < min_pause and internal and phones[i + 1][0] not in NON_SPEECH:
            q, qs, _ = out[-1]
            out[-1] = (q, qs, e)
            continue
        out.append((p, s, e))
    return out


def shift(phones: Phones, offset: float) -> Phones:
    return [(p, s + offset, e + offset) for p, s, e in phones]


def scale(phones: Phones, factor: float) -> Phones:
    return [(p, s * factor, e * factor) for p, s, e in phones]


def validate(phones: Phones, duration: float, *, tol: float = 1e-4) -> None:
    """Raise ValueError unless spans are ARPAbet/SIL/BR, contiguous, sorted and cover [0, duration]."""
    if not phones:
        raise ValueError("no phones")
    if abs(phones[0][1]) > tol or abs(phones[-1][2] - duration) > tol:
        raise ValueError(f"phones cover [{phones[0][1]}, {phones[-1][2]}], not [0, {duration}]")
    for i, (p, s, e) in enumerate(phones):
        if p not in PHONES:
            raise ValueError(f"phone {p!r} is not ARPAbet/SIL/BR")
        if e <= s:
            raise ValueError(f"phone {i} {p} has non-positive length ({s}, {e})")
        if i and abs(phones[i - 1][2] - s) > tol:
            raise ValueError(f"gap or overlap between phone {i - 1} and {i}")


def correct_stop_closures(phones: Phones, audio: np.ndarray, sr: int, *,
                          max_closure: float = 0.12, silence_closure: float = 0.06,
                          min_prev: float = 0.015, drop_db: float = 30.0) -> Phones:
    """Move each stop's start back over the closure silence that precedes its release.

    espeak-ng marks voiceless stops (and affricates) at the release; the closure silence lies at the
    end of the previous phone. We look for frames immediately before the stop that are `drop_db`
    quieter than the previous phone's loudest frame and give them to the stop, keeping the previous
    phone at least `min_prev` long (a preceding SIL gives at most `silence_closure`).
    """
    hop = int(0.005 * sr)
    out = list(phones)
    for i in range(1, len(out)):
        p, s, e = out[i]
        if p not in STOPS:
            continue
        pp, ps, pe = out[i - 1]
        if pp in NON_SPEECH:
            limit = min(silence_closure, pe - ps)
        else:
            limit = min(max_closure, pe - ps - min_prev)
        if limit <= 0:
            continue
        a0, a1 = int(ps * sr), int(s * sr)
        seg = audio[a0:a1]
        if len(seg) < hop:
            continue
        n = len(seg) // hop
        frames = seg[len(seg) - n * hop:].reshape(n, hop)   # aligned to end at the stop start
        level = 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)
        if pp in NON_SPEECH:
            quiet = level < -50.0
        else:
            quiet = level < level.max() - drop_db
        k = 0
        while k < n and quiet[n - 1 - k]:
            k += 1
        moved = min(k * hop / sr, limit)
        if moved <= 0:
            continue
        new_start = s - moved
        out[i - 1] = (pp, ps, new_start)
        out[i] = (p, new_start, e)
    return out
