"""Phone inventory, validation, and the articulatory targets of each phone.

Targets are in articulatory parameters, not blendshapes: the mouth module blends them with
dominance functions and only then maps them onto ARKit channels. Each parameter of each phone has a
target value and a dominance strength (how hard the phone insists on that value against its
neighbours); a small dominance lets neighbours win, which is how coarticulation arises.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from server.phones import BREATH, PHONES, SILENCE

# Articulatory parameters, all in [0, 1]:
#   jaw      jaw opening
#   close    lips held together in pauses (1 = lips touching)
#   round    lip protrusion/rounding (mouthPucker)
#   funnel   lips funnelled open (mouthFunnel)
#   spread   lip corners pulled back (mouthStretch, a little smile)
#   lower    lower lip pulled down off the teeth (mouthLowerDown)
#   upper    upper lip raised off the teeth (mouthUpperUp)
# (The contacts of P B M, F V and TH DH are envelopes in mouth.py, not blended targets.)
PARAMS = ("jaw", "close", "round", "funnel", "spread", "lower", "upper")
P = {name: i for i, name in enumerate(PARAMS)}


@dataclass(frozen=True)
class Target:
    """What one phone (or one half of a diphthong) asks of each articulatory parameter."""

    values: dict[str, float]        # parameter -> target value (missing: 0)
    dominance: dict[str, float]     # parameter -> dominance strength (missing: the phone's default)
    default_dominance: float


def _t(default_dominance: float, values: dict[str, float], dominance: dict[str, float] | None = None) -> Target:
    return Target(values, dominance or {}, default_dominance)


def _unrounded(values: dict[str, float]) -> Target:
    """An unrounded vowel: it insists on unrounded lips, which stops rounding spreading across it."""
    return _t(_V, values, {"round": UNROUNDED_VOWEL_DOMINANCE, "funnel": UNROUNDED_VOWEL_DOMINANCE})


# Vowel jaw opening follows openness: low vowels (AA AE AO, the first halves of AW AY) widest.
# Rounded vowels insist on rounding (dominance 1.5) so it spreads onto preceding consonants.
_V = 1.0
UNROUNDED_VOWEL_DOMINANCE = 4.0
_VOWEL_TARGETS: dict[str, tuple[Target, ...]] = {
    "AA": (_unrounded({"jaw": 0.72, "lower": 0.30, "upper": 0.10}),),
    "AE": (_unrounded({"jaw": 0.62, "lower": 0.35, "upper": 0.15, "spread": 0.35}),),
    "AH": (_unrounded({"jaw": 0.50, "lower": 0.22, "upper": 0.08}),),
    "AO": (_t(_V, {"jaw": 0.62, "lower": 0.20, "round": 0.30, "funnel": 0.35}, {"round": 1.2, "funnel": 1.2}),),
    "AW": (_unrounded({"jaw": 0.68, "lower": 0.28, "upper": 0.08}),
           _t(_V, {"jaw": 0.28, "round": 0.65, "funnel": 0.35}, {"round": 1.5, "funnel": 1.2})),
    "AY": (_unrounded({"jaw": 0.68, "lower": 0.28, "upper": 0.10}),
           _unrounded({"jaw": 0.25, "spread": 0.45, "lower": 0.10})),
    "EH": (_unrounded({"jaw": 0.42, "lower": 0.25, "upper": 0.10, "spread": 0.30}),),
    "ER": (_t(_V, {"jaw": 0.28, "round": 0.45, "funnel": 0.35, "upper": 0.10}, {"round": 1.2, "funnel": 1.2}),),
    "EY": (_unrounded({"jaw": 0.40, "lower": 0.22, "spread": 0.35}),
           _unrounded({"jaw": 0.22, "spread": 0.45, "lower": 0.10})),
    "IH": (_unrounded({"jaw": 0.28, "lower": 0.15, "spread": 0.35}),),
    "IY": (_unrounded({"jaw": 0.20, "lower": 0.12, "spread": 0.55}),),
    "OW": (_t(_V, {"jaw": 0.45, "round": 0.55, "funnel": 0.50}, {"round": 1.5, "funnel": 1.5}),
           _t(_V, {"jaw": 0.25, "round": 0.80, "funnel": 0.30}, {"round": 1.5, "funnel": 1.2})),
    "OY": (_t(_V, {"jaw": 0.50, "round": 0.50, "funnel": 0.45}, {"round": 1.5, "funnel": 1.5}),
           _unrounded({"jaw": 0.22, "spread": 0.40, "lower": 0.10})),
    "UH": (_t(_V, {"jaw": 0.28, "round": 0.60, "funnel": 0.30}, {"round": 1.5, "funnel": 1.2}),),
    "UW": (_t(_V, {"jaw": 0.18, "round": 0.90, "funnel": 0.30}, {"round": 1.8, "funnel": 1.2}),),
}

# Consonants: a closed-ish jaw with low dominance (the vowels around them set the jaw), and
# near-zero dominance for rounding so a rounded vowel's rounding is anticipated across them.
# The contacts of P B M (close), F V (labio) and TH DH (tongue) are not blended: mouth.py imposes
# them as envelopes over the phone's span, because a weighted mean would stop short of contact
# and would also leak into the neighbouring vowels.
_C = 0.35
_ROUND_FREE = {"round": 0.05, "funnel": 0.05}
_CONSONANT_TARGETS: dict[str, tuple[Target, ...]] = {
    "P": (_t(_C, {"jaw": 0.08}, {"jaw": 0.8, **_ROUND_FREE}),),
    "B": (_t(_C, {"jaw": 0.08}, {"jaw": 0.8, **_ROUND_FREE}),),
    "M": (_t(_C, {"jaw": 0.06}, {"jaw": 0.8, **_ROUND_FREE}),),
    "F": (_t(_C, {"jaw": 0.08}, {"jaw": 2.0, **_ROUND_FREE}),),
    "V": (_t(_C, {"jaw": 0.08}, {"jaw": 2.0, **_ROUND_FREE}),),
    "TH": (_t(_C, {"jaw": 0.14, "lower": 0.12}, {"jaw": 0.6, **_ROUND_FREE}),),
    "DH": (_t(_C, {"jaw": 0.12, "lower": 0.10}, {"jaw": 0.6, **_ROUND_FREE}),),
    "S": (_t(_C, {"jaw": 0.07, "spread": 0.30, "lower": 0.15, "upper": 0.10}, {"jaw": 0.9, "spread": 0.4, **_ROUND_FREE}),),
    "Z": (_t(_C, {"jaw": 0.07, "spread": 0.28, "lower": 0.15, "upper": 0.10}, {"jaw": 0.9, "spread": 0.4, **_ROUND_FREE}),),
    "SH": (_t(_C, {"jaw": 0.09, "round": 0.45, "funnel": 0.55, "upper": 0.15}, {"jaw": 0.8, "round": 0.9, "funnel": 1.2}),),
    "ZH": (_t(_C, {"jaw": 0.09, "round": 0.45, "funnel": 0.55, "upper": 0.15}, {"jaw": 0.8, "round": 0.9, "funnel": 1.2}),),
    "CH": (_t(_C, {"jaw": 0.08, "round": 0.40, "funnel": 0.50, "upper": 0.12}, {"jaw": 0.8, "round": 0.9, "funnel": 1.2}),),
    "JH": (_t(_C, {"jaw": 0.08, "round": 0.40, "funnel": 0.50, "upper": 0.12}, {"jaw": 0.8, "round": 0.9, "funnel": 1.2}),),
    "T": (_t(_C, {"jaw": 0.10, "lower": 0.08}, {"jaw": 0.6, **_ROUND_FREE}),),
    "D": (_t(_C, {"jaw": 0.10, "lower": 0.08}, {"jaw": 0.6, **_ROUND_FREE}),),
    "N": (_t(_C, {"jaw": 0.12, "lower": 0.06}, {"jaw": 0.5, **_ROUND_FREE}),),
    "L": (_t(_C, {"jaw": 0.18, "lower": 0.08}, {"jaw": 0.4, **_ROUND_FREE}),),
    "K": (_t(_C, {"jaw": 0.16}, {"jaw": 0.3, **_ROUND_FREE}),),
    "G": (_t(_C, {"jaw": 0.16}, {"jaw": 0.3, **_ROUND_FREE}),),
    "NG": (_t(_C, {"jaw": 0.16}, {"jaw": 0.3, **_ROUND_FREE}),),
    "HH": (_t(0.1, {"jaw": 0.30}, {"jaw": 0.1}),),
    "Y": (_t(_C, {"jaw": 0.14, "spread": 0.40}, {"jaw": 0.5, "spread": 0.6, **_ROUND_FREE}),),
    "W": (_t(_C, {"jaw": 0.12, "round": 1.0, "funnel": 0.35}, {"jaw": 0.6, "round": 3.0, "funnel": 1.5}),),
    "R": (_t(_C, {"jaw": 0.14, "round": 0.50, "funnel": 0.40, "upper": 0.08}, {"jaw": 0.5, "round": 1.5, "funnel": 1.2}),),
}

# Silence: a relaxed, closed mouth, insisted on strongly so it wins quickly after speech stops.
# Breath: lips just parted (under the closed threshold), a little jaw.
_PAUSE_TARGETS: dict[str, tuple[Target, ...]] = {
    SILENCE: (_t(2.5, {"jaw": 0.03, "close": 0.95}),),
    BREATH: (_t(2.0, {"jaw": 0.10, "close": 0.70}),),
}

TARGETS: dict[str, tuple[Target, ...]] = {**_VOWEL_TARGETS, **_CONSONANT_TARGETS, **_PAUSE_TARGETS}
assert set(TARGETS) == PHONES

_STRESS = re.compile(r"^([A-Z]+)([012])?$")


def normalise_phones(phones, duration_s: float) -> list[tuple[str, float, float, int | None]]:
    """Check a phone list and return it as (phone, start, end, stress) with gaps filled by SIL.

    Stress digits (AH0, IY1) are accepted and kept as a hint for emphasis; lower case is accepted.
    Raises ValueError naming the first bad entry.
    """
    if not _finite(duration_s) or duration_s <= 0:
        raise ValueError(f"duration_s must be a positive number of seconds, got {duration_s!r}")
    out: list[tuple[str, float, float, int | None]] = []
    cursor = 0.0
    tolerance = 0.005
    for i, entry in enumerate(phones):
        try:
            phone, start, end = entry
            start, end = float(start), float(end)
        except (TypeError, ValueError):
            raise ValueError(f"phones[{i}] must be (phone, start_s, end_s), got {entry!r}") from None
        m = _STRESS.match(str(phone).strip().upper())
        if not m or m.group(1) not in PHONES:
            raise ValueError(f"phones[{i}]: unknown phone {phone!r}; use ARPAbet symbols without stress "
                             f"(AA ... ZH) or SIL / BR")
        if not (_finite(start) and _finite(end)) or end < start:
            raise ValueError(f"phones[{i}] {phone!r}: end {end} is before start {start}")
        if start < cursor - tolerance:
            raise ValueError(f"phones[{i}] {phone!r} starts at {start:.3f} s, before the previous phone ends "
                             f"({cursor:.3f} s); phones must be sorted and must not overlap")
        start = max(start, cursor)
        end = min(end, duration_s)
        if start >= duration_s:
            break
        if start > cursor + 1e-6:
            out.append((SILENCE, cursor, start, None))
        if end > start:
            stress = int(m.group(2)) if m.group(2) is not None else None
            out.append((m.group(1), start, end, stress))
        cursor = max(cursor, end)
    if cursor < duration_s:
        out.append((SILENCE, cursor, duration_s, None))
    return out


def _finite(x) -> bool:
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False
