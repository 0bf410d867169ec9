"""The performance style: what the animator can ask of a take beyond the words, and how the
model hears it.

The style's fields and ranges live once, in the teacher's ``Style`` (server/teacher/style.py):
the teacher draws a style for every training utterance and the model is conditioned on the
same numbers, so a value means the same thing to both. This module turns a partial request
("articulation=1.6, emotion sad:0.5") into a full style, by drawing every field left unset from
the natural prior (so takes still differ where the animator said nothing), and encodes a style as
the model's per-frame condition vector.

    style = resolve({"articulation": 1.6}, emotion="sad", intensity=0.5, rng=rng)
    vector = style_vector(style)   # (STYLE_DIM,) float32, for the denoiser
"""

from __future__ import annotations

import math

import numpy as np

from server.teacher.style import EMOTIONS, Style

# The controls, in the order of `mouthpiece style`'s JSON and of the condition vector.
# jaw_range is the teacher's hidden per-speaker factor, not a control.
CONTROLS = ("articulation", "smile", "asymmetry", "brow_activity", "blink_rate", "gaze_activity")
KEYS = CONTROLS + ("emotion", "intensity")
# Each control's centre (the neutral speaker) and span: (value - centre) / span is the model's input.
_SCALE = {"articulation": (1.0, 1.0), "smile": (0.0, 1.0), "asymmetry": (0.0, 1.0),
          "brow_activity": (1.0, 2.0), "blink_rate": (1.0, 3.0), "gaze_activity": (1.0, 2.0)}
NON_NEUTRAL = tuple(e for e in EMOTIONS if e != "neutral")
STYLE_DIM = len(CONTROLS) + len(NON_NEUTRAL)


class StyleError(ValueError):
    """A style value that is unknown or out of range; the message says what to give instead."""


def limits() -> dict[str, tuple[float, float]]:
    """Each control's allowed range, as the teacher's Style defines it."""
    return {k: Style.RANGES[k] for k in CONTROLS + ("intensity",)}


def style_vector(style: Style) -> np.ndarray:
    """(STYLE_DIM,) float32: the controls centred and scaled, then one intensity per emotion."""
    out = np.zeros(STYLE_DIM, np.float32)
    for i, key in enumerate(CONTROLS):
        centre, span = _SCALE[key]
        out[i] = (getattr(style, key) - centre) / span
    if style.emotion != "neutral":
        out[len(CONTROLS) + NON_NEUTRAL.index(style.emotion)] = style.intensity
    return out


def vector_to_style(vector, jaw_range: float = 1.0) -> Style:
    """The inverse of ``style_vector`` (the strongest emotion wins; values clipped to range)."""
    v = np.asarray(vector, dtype=np.float64).reshape(-1)
    if v.shape[0] != STYLE_DIM:
        raise StyleError(f"a style vector has {STYLE_DIM} values, got {v.shape[0]}")
    values = {}
    for i, key in enumerate(CONTROLS):
        centre, span = _SCALE[key]
        low, high = Style.RANGES[key]
        values[key] = float(np.clip(centre + span * v[i], low, high))
    emotions = v[len(CONTROLS):]
    k = int(np.argmax(emotions))
    intensity = float(np.clip(emotions[k], 0.0, 1.0))
    if intensity < 0.05:
        return Style(jaw_range=jaw_range, **values)
    return Style(jaw_range=jaw_range, emotion=NON_NEUTRAL[k], intensity=intensity, **values)


def check_values(values: dict) -> dict[str, float | str]:
    """A partial style from the API/CLI, checked: known keys, numbers in range, a known emotion."""
    if not isinstance(values, dict):
        raise StyleError("style: expected an object of KEY: VALUE, e.g. {\"articulation\": 1.5}")
    out: dict[str, float | str] = {}
    for key, value in values.items():
        if key not in KEYS:
            raise StyleError(f"style: unknown key {key!r}; the keys are {', '.join(KEYS)}")
        if key == "emotion":
            if value not in EMOTIONS:
                raise StyleError(f"style.emotion: {value!r} is not one of {', '.join(EMOTIONS)}")
            out[key] = value
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise StyleError(f"style.{key}: {value!r} is not a number")
        low, high = Style.RANGES[key]
        if not low <= value <= high:
            raise StyleError(f"style.{key}: {value:g} is outside {low:g} to {high:g}")
        out[key] = float(value)
    if out.get("emotion", "neutral") == "neutral" and out.get("intensity", 0.0) > 0:
        raise StyleError("style.intensity: give it with an emotion other than neutral (e.g. emotion sad, "
                         "intensity 0.5)")
    return out


def parse_pairs(text: str) -> dict[str, float | str]:
    """``KEY=VALUE[,KEY=VALUE...]`` (the CLI's --style) -> a checked partial style."""
    values: dict[str, float | str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, raw = part.partition("=")
        key = key.strip()
        if not sep or not raw.strip():
            raise StyleError(f"--style: {part!r} is not KEY=VALUE (keys: {', '.join(KEYS)})")
        if key == "emotion":
            values[key] = raw.strip()
            continue
        try:
            values[key] = float(raw)
        except ValueError:
            raise StyleError(f"--style: {key}={raw!r} is not a number") from None
    return check_values(values)


def parse_emotion(text: str) -> dict[str, float | str]:
    """``NAME[:INTENSITY]`` (the CLI's --emotion; intensity 1 when left out)."""
    name, _, raw = text.partition(":")
    values: dict[str, float | str] = {"emotion": name.strip()}
    if name.strip() != "neutral":
        try:
            values["intensity"] = float(raw) if raw.strip() else 1.0
        except ValueError:
            raise StyleError(f"--emotion: intensity {raw!r} is not a number (e.g. sad:0.5)") from None
    return check_values(values)


def resolve(partial: dict | None, rng: np.random.Generator) -> Style:
    """A full style: the given values, every other drawn from the natural prior with ``rng``.

    An unset emotion is neutral (a take should not turn angry on its own); an emotion without an
    intensity gets 1.
    """
    partial = check_values(partial or {})
    fields = Style.random(rng).as_dict()
    fields.update(partial)
    if fields["emotion"] == "neutral":
        fields["intensity"] = 0.0
    elif "intensity" not in partial:
        fields["intensity"] = 1.0
    return Style(**fields)


def public_dict(style: Style) -> dict[str, float | str]:
    """The style as the API, the CLI and the add-on show it: the controls, emotion and intensity."""
    out: dict[str, float | str] = {k: round(float(getattr(style, k)), 4) for k in CONTROLS}
    out["emotion"] = style.emotion
    out["intensity"] = round(float(style.intensity), 4)
    return out
