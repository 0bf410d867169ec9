"""The generation request: one type and one validation, for the engine, the HTTP API and the CLI.

``check_request`` checks every field against the limits table (server/limits.py) and the audio,
and returns the request in canonical form (channel names canonical, the style checked, the
language normalised, the transcript stripped). A bad field raises ``FieldError``, whose ``field``
names it as the API's JSON does (``keys[3].channel``, ``regenerate.end``, ``existing.frames``).
The API's pydantic models check only the JSON's shape, with bounds from the same table.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np

from addon.core import arkit
from server import limits
from server.audio import Audio
from server.errors import FieldError
from server.timebase import num_frames


@dataclass
class Key:
    frame: int
    channel: str
    value: float


@dataclass
class GenerationRequest:
    audio: Audio
    fps: float = 30.0
    samples: int = 1
    seed: int = 0
    steps: int | None = None
    guidance: float | None = None
    # Lip-closure guidance strength, 0-1 (0: off, and no speech recognition runs; None: the model's default).
    lip_closure: float | None = None
    keys: list[Key] = field(default_factory=list)
    existing: np.ndarray | None = None  # (T, 52) at fps: the take being edited
    regenerate: tuple[int, int] | None = None  # inclusive frames of `existing` to regenerate
    # The channels regenerated inside `regenerate` (None: all 52). The others keep `existing` on
    # every frame and the model takes them as given (per-channel inpainting).
    regenerate_channels: tuple[str, ...] | None = None
    # Frames (at fps) by which the mouth leads the audio (negative: lags). Pins and kept frames stay
    # where they are; the audio the model hears is shifted instead.
    offset: float = 0.0
    # The performance style (server/style.py): the keys given are held, every other is drawn per take.
    style: dict | None = None
    # Classifier-free guidance on the style (1: none; above 1 strengthens it). None: the model's default.
    style_guidance: float | None = None
    # The speech's language: "auto", or a code such as "en", "es" (server/speech/language.py).
    language: str = "auto"
    # What is said, when known: its words are aligned to the audio (server/speech/transcript.py) and
    # place the closures instead of the recogniser.
    transcript: str | None = None

    @property
    def frames(self) -> int:
        """Frames of each take at ``fps`` (frame 0 is audio time 0)."""
        return num_frames(self.audio.duration, self.fps)


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) \
        and math.isfinite(value)


def _is_whole(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _shown(value) -> str:
    if _is_whole(value):
        return str(int(value))
    return repr(float(value)) if _is_number(value) else repr(value)


def _in_range(name: str, value, low, high, *, whole: bool = False, optional: bool = False, note: str = ""):
    """``value`` of field ``name`` in [low, high] (None allowed if ``optional``), else a FieldError."""
    if value is None and optional:
        return None
    if not (_is_whole(value) if whole else _is_number(value)):
        raise FieldError(name, f"{value!r} is not {'a whole number' if whole else 'a finite number'}; "
                               f"give one in {low:g}-{high:g}{note}")
    if not low <= value <= high:
        raise FieldError(name, f"{_shown(value)} is outside {low:g}-{high:g}{note}")
    return int(value) if whole else float(value)


def channel_name(name, where: str) -> str:
    """The canonical name of ARKit channel ``name`` (any spelling), else a FieldError for field ``where``."""
    canonical = arkit.canonical_name(str(name))
    if canonical is None:
        raise FieldError(where, f"{name!r} is not an ARKit channel name; use one of the 52 names "
                                "(addon.core.arkit.CHANNELS, listed by GET /v1/health), e.g. 'jawOpen'")
    return canonical


def _style(style, style_input: bool) -> dict | None:
    from server.style import StyleError, check_values

    if not style:
        return None
    if not style_input:
        raise FieldError("style", "this model has no style input; leave the style out or use a style-conditioned "
                                  "checkpoint (the shipped default model is one; GET /v1/health says `style`)")
    try:
        return check_values(style)
    except StyleError as e:
        where, _, message = str(e).partition(": ")
        raise FieldError(where, message) from None


def _language(language) -> str:
    from server.speech.language import LanguageError, check_language

    try:
        return check_language(language)
    except LanguageError as e:
        raise FieldError("language", str(e).removeprefix("language: ")) from None


def _transcript(text) -> str | None:
    if text is None:
        return None
    if not isinstance(text, str):
        raise FieldError("transcript", f"expected text, got {type(text).__name__}")
    if len(text) > limits.MAX_TRANSCRIPT_CHARS:
        raise FieldError("transcript", f"{len(text)} characters; send at most {limits.MAX_TRANSCRIPT_CHARS}")
    return text.strip() or None


def _keys(keys, frames: int, fps: float, duration: float) -> list[Key]:
    if len(keys) > limits.MAX_KEYS:
        raise FieldError("keys", f"{len(keys)} keys; send at most {limits.MAX_KEYS}")
    out: list[Key] = []
    seen: dict[tuple[int, str], int] = {}
    for i, key in enumerate(keys):
        channel = channel_name(key.channel, f"keys[{i}].channel")
        if not _is_whole(key.frame) or not 0 <= key.frame < frames:
            raise FieldError(f"keys[{i}].frame", f"{key.frame!r} is outside the audio's frames 0-{frames - 1} "
                                                 f"({duration:.2f} s at {fps:g} fps)")
        if not _is_number(key.value) or not 0.0 <= key.value <= 1.0:
            raise FieldError(f"keys[{i}].value", f"{key.value!r} must be a number in [0, 1]")
        if (key.frame, channel) in seen:
            raise FieldError(f"keys[{i}]", f"pins {channel} at frame {key.frame} like keys[{seen[key.frame, channel]}]; "
                                           "send one key per frame and channel")
        seen[key.frame, channel] = i
        out.append(Key(int(key.frame), channel, float(key.value)))
    return out


def channel_subset(names, where: str) -> tuple[str, ...]:
    """Canonical names of the channels ``names`` (any spelling, each once), else a FieldError."""
    chosen: dict[str, int] = {}
    for i, name in enumerate(names):
        channel = channel_name(name, f"{where}[{i}]")
        if channel in chosen:
            raise FieldError(f"{where}[{i}]", f"{name!r} names {channel} again (already {where}[{chosen[channel]}])")
        chosen[channel] = i
    return tuple(chosen)


def _edit(req: GenerationRequest, frames: int, duration: float):
    """(existing, regenerate, regenerate_channels) checked, or a FieldError."""
    if req.regenerate is None:
        if req.regenerate_channels is not None:
            raise FieldError("regenerate.channels", "give the range to regenerate with it")
        if req.existing is not None:
            raise FieldError("existing", "send `regenerate` too (the frames to replace); "
                                         "without it the existing curves would have no effect")
        return None, None, None
    if req.existing is None:
        raise FieldError("regenerate", "needs `existing`: the curves whose other frames are kept")
    existing = np.asarray(req.existing)
    if existing.ndim != 2 or existing.shape[1] != arkit.NUM_CHANNELS:
        raise FieldError("existing", f"expected frames x {arkit.NUM_CHANNELS} values, got shape {existing.shape}")
    if existing.shape[0] != frames:
        raise FieldError("existing.frames", f"{existing.shape[0]} frames, but the {duration:.2f} s audio is {frames} "
                                            f"frames long at {req.fps:g} fps; send one row per frame")
    if not np.all(np.isfinite(existing)):
        raise FieldError("existing", "contains NaN or infinite values")
    start, end = req.regenerate
    if not (_is_whole(start) and _is_whole(end)):
        raise FieldError("regenerate", f"range {start!r}:{end!r}: start and end are whole frame numbers")
    if end < start:
        raise FieldError("regenerate", f"range {start}:{end} ends before it starts; the range is inclusive, "
                                       "so a one-frame range has end == start")
    if start < 0:
        raise FieldError("regenerate.start", f"{start} is before the first frame 0")
    if end >= frames:
        raise FieldError("regenerate.end", f"{end} is past the last frame {frames - 1} of the {duration:.2f} s "
                                           f"audio at {req.fps:g} fps")
    channels = (None if req.regenerate_channels is None
                else channel_subset(req.regenerate_channels, "regenerate.channels"))
    return req.existing, (int(start), int(end)), channels


def check_request(req: GenerationRequest, *, style_input: bool) -> GenerationRequest:
    """``req`` checked against the limits and its audio, in canonical form; a ``FieldError`` naming the
    first field at fault otherwise. ``style_input``: whether the model takes a style (else a style is refused)."""
    fps = _in_range("fps", req.fps, limits.MIN_FPS, limits.MAX_FPS, note=" frames per second")
    _in_range("samples", req.samples, 1, limits.MAX_SAMPLES, whole=True)
    _in_range("seed", req.seed, 0, limits.MAX_SEED, whole=True)
    _in_range("steps", req.steps, 1, limits.MAX_STEPS, whole=True, optional=True)
    _in_range("guidance", req.guidance, 0.0, limits.MAX_GUIDANCE, optional=True)
    _in_range("lip_closure", req.lip_closure, 0.0, limits.MAX_LIP_CLOSURE, optional=True,
              note=" (0 turns lip-closure guidance off)")
    _in_range("style_guidance", req.style_guidance, 0.0, limits.MAX_STYLE_GUIDANCE, optional=True)
    most = limits.MAX_OFFSET_SECONDS * fps
    if not _is_number(req.offset) or abs(req.offset) > most:
        raise FieldError("offset", f"{_shown(req.offset)} frames is not within +-{limits.MAX_OFFSET_SECONDS:g} s "
                                   f"({most:g} frames at {fps:g} fps); lead or lag by at most that")
    style = _style(req.style, style_input)
    language = _language(req.language)
    transcript = _transcript(req.transcript)
    duration = req.audio.duration
    frames = num_frames(duration, fps)
    keys = _keys(req.keys, frames, fps, duration)
    existing, regenerate, channels = _edit(req, frames, duration)
    return dataclasses.replace(req, keys=keys, style=style, language=language, transcript=transcript,
                               existing=existing, regenerate=regenerate, regenerate_channels=channels)
