"""The performance a take is asked for (style, emotion, language, dialogue text): pure functions
of plain values, shared by the Performance panel, Keep Style, Match Style and the job plan.

The ranges are the sidecar's (server/teacher/style.py ``Style.RANGES``; the add-on cannot import
the server, and tests/test_addon_core_performance.py checks the two are equal). A key the animator
leaves unset is not sent, so the model draws it per take and takes still differ.
"""

from __future__ import annotations

import math
from typing import Iterable, Mapping, Sequence

# The numeric controls, in the order the panel shows them and the sidecar's `mouthpiece style` prints them.
CONTROLS: tuple[str, ...] = ("articulation", "smile", "asymmetry", "brow_activity", "blink_rate", "gaze_activity")
EMOTIONS: tuple[str, ...] = ("neutral", "happy", "sad", "angry", "surprised", "fearful", "disgusted")
KEYS: tuple[str, ...] = CONTROLS + ("emotion", "intensity")
RANGES: dict[str, tuple[float, float]] = {
    "articulation": (0.0, 2.0), "smile": (-1.0, 1.0), "asymmetry": (-1.0, 1.0), "brow_activity": (0.0, 3.0),
    "blink_rate": (0.0, 4.0), "gaze_activity": (0.0, 3.0), "intensity": (0.0, 1.0)}
# The neutral speaker (what a slider shows before it is ever set); an emotion set without an
# intensity shows with its full strength, as the sidecar gives it.
DEFAULTS: dict[str, float | str] = {
    "articulation": 1.0, "smile": 0.0, "asymmetry": 0.0, "brow_activity": 1.0, "blink_rate": 1.0,
    "gaze_activity": 1.0, "emotion": "neutral", "intensity": 1.0}
LABELS: dict[str, str] = {
    "articulation": "Articulation", "smile": "Smile", "asymmetry": "Asymmetry", "brow_activity": "Brow Activity",
    "blink_rate": "Blink Rate", "gaze_activity": "Gaze Activity", "emotion": "Emotion", "intensity": "Intensity"}
DESCRIPTIONS: dict[str, str] = {
    "articulation": "Jaw and lip amplitude: 0 mumbled, 1 neutral, 2 over-articulated (closures stay closed)",
    "smile": "-1 frown, 0 neutral, 1 smile",
    "asymmetry": "Left-right imbalance (positive: the left side moves more)",
    "brow_activity": "How much the brows move: raises on emphasis and drift (1: the average speaker)",
    "blink_rate": "How often the eyes blink (1: the measured average rate)",
    "gaze_activity": "How often and how far the eyes move (1: the measured average)",
    "emotion": "The emotion the face shows, with its intensity",
    "intensity": "How strongly the emotion shows (0-1)"}
SHORT: dict[str, str] = {"articulation": "art", "smile": "smile", "asymmetry": "asym", "brow_activity": "brow",
                         "blink_rate": "blink", "gaze_activity": "gaze"}

STYLE_GUIDANCE_OFF = 1.0   # the sidecar's default: no guidance on the style
STYLE_GUIDANCE_MAX = 10.0

AUTO_LANGUAGE = "auto"
# The languages the shipped model is trained on (server/speech/language.py TRAINED), by name.
LANGUAGES: tuple[tuple[str, str], ...] = (
    ("en", "English"), ("es", "Spanish"), ("fr", "French"), ("de", "German"), ("it", "Italian"),
    ("pt", "Portuguese"), ("ru", "Russian"), ("pl", "Polish"), ("hi", "Hindi"), ("cmn", "Mandarin"),
    ("ja", "Japanese"), ("ar", "Arabic"), ("sw", "Swahili"))

# Speech in a language not listed: the sidecar's "und" (ISO 639 "undetermined") keeps the English
# word recogniser off, so only the model's own closure detector places lip closures.
OTHER_LANGUAGE: tuple[str, str] = ("und", "Other language")

Span = tuple[float, float]  # scene frames: first frame heard, frame where it stops (exclusive)


def clamp(key: str, value: float) -> float:
    low, high = RANGES[key]
    return min(high, max(low, float(value)))


def request_style(values: Mapping[str, float | str], set_keys: Iterable[str]) -> dict | None:
    """The job's ``style``: the set keys only, numbers clamped to range; None when nothing is set.

    The intensity goes only with an emotion other than neutral that is set too (the sidecar draws
    an unset emotion as neutral, and neutral has no intensity)."""
    chosen = set(set_keys)
    unknown = chosen - set(KEYS)
    if unknown:
        raise ValueError(f"unknown style keys: {sorted(unknown)}")
    out: dict[str, float | str] = {}
    for key in KEYS:
        if key not in chosen:
            continue
        if key == "emotion":
            emotion = str(values[key])
            if emotion not in EMOTIONS:
                raise ValueError(f"unknown emotion {emotion!r}")
            out[key] = emotion
        elif key == "intensity":
            if out.get("emotion", "neutral") != "neutral":
                out[key] = round(clamp(key, values[key]), 4)
        else:
            out[key] = round(clamp(key, values[key]), 4)
    return out or None


def request_style_guidance(value: float) -> float | None:
    """The job's ``style_guidance``: None at 1 (off, the sidecar's default)."""
    value = min(STYLE_GUIDANCE_MAX, max(0.0, float(value)))
    return None if abs(value - STYLE_GUIDANCE_OFF) < 1e-6 else round(value, 4)


def request_language(code: str) -> str:
    code = (code or AUTO_LANGUAGE).strip().lower()
    return code or AUTO_LANGUAGE


def panel_values(style: Mapping) -> dict[str, float | str]:
    """A take's (or an inferred) style as the Performance panel holds it: every known key, numbers
    clamped to range, an unknown emotion or a missing key left out. Raises ValueError when it
    holds none of the keys (not a style)."""
    out: dict[str, float | str] = {}
    for key in KEYS:
        value = style.get(key) if isinstance(style, Mapping) else None
        if key == "emotion":
            if value in EMOTIONS:
                out[key] = value
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            out[key] = clamp(key, value)
    if not out:
        raise ValueError("the style holds none of the keys " + ", ".join(KEYS))
    if out.get("emotion") == "neutral":
        out.setdefault("intensity", 0.0)
    return out


def format_style(style: Mapping | None, limit: int = 3) -> str:
    """A take's style in a few characters: 'art 1.2 · smile 0.3 · sad 0.5'. The emotion first,
    then the controls furthest from the neutral speaker; 'neutral' when none moves."""
    if not style:
        return ""
    parts: list[tuple[float, str]] = []
    emotion = style.get("emotion")
    intensity = style.get("intensity")
    if emotion in EMOTIONS and emotion != "neutral":
        strength = float(intensity) if isinstance(intensity, (int, float)) else 1.0
        parts.append((math.inf, f"{emotion} {strength:.1f}"))
    for key in CONTROLS:
        value = style.get(key)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        low, high = RANGES[key]
        distance = abs(float(value) - float(DEFAULTS[key])) / (high - low)
        if distance >= 0.025:
            parts.append((distance, f"{SHORT[key]} {float(value):.1f}"))
    parts.sort(key=lambda p: -p[0])
    shown = [text for _, text in parts[:limit]]
    return " \u00b7 ".join(shown) if shown else "neutral"


def overlaps(a: Span, b: Span) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def dialogue_text(typed: str, sounds: Sequence[Span], texts: Sequence[tuple[Span, int, str]]) -> tuple[str, str]:
    """(transcript, where it came from): the typed dialogue when there is one ("field"), else the
    text of the text strips that overlap a sound strip of the job, in the order they are heard
    (then by channel), joined by spaces ("strips"); ("", "") when there is none.

    ``sounds``: the spans of the sound strips the job hears, clipped to its frames; ``texts``:
    (span, channel, text) of each unmuted text strip."""
    typed = (typed or "").strip()
    if typed:
        return typed, "field"
    chosen = sorted((span[0], channel, text.strip()) for span, channel, text in texts
                    if text and text.strip() and any(overlaps(span, sound) for sound in sounds))
    words = " ".join(text for _, _, text in chosen)
    return (words, "strips") if words else ("", "")
