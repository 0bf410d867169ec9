"""Turn a JobRequest into work for the engine, or a FieldError that names the field to fix.

Everything a client can get wrong is checked here, before the job is queued, so that a
bad request gets a 4xx at once instead of a job that fails minutes later.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

import numpy as np

from addon.core import arkit
from server.api import limits
from server.api.models import JobRequest
from server.audio import Audio, load_audio
from server.errors import InputError
from server.speech.language import LanguageError, check_language
from server.style import StyleError, check_values
from server.timebase import num_frames


class FieldError(ValueError):
    """A request field is wrong; ``str(e)`` says what to fix."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass
class PreparedJob:
    audio: Audio
    fps: float
    samples: int
    seed: int
    steps: int | None
    guidance: float | None
    lip_closure: float | None
    keys: list[tuple[int, str, float]]  # (frame, canonical channel, value)
    existing: np.ndarray | None  # (frames, 52) float32 in CHANNELS order
    regenerate: tuple[int, int] | None
    frames: int
    regenerate_channels: tuple[str, ...] | None = None
    offset: float = 0.0
    style: dict | None = None  # checked partial style (server.style.check_values)
    style_guidance: float | None = None
    language: str = "auto"
    transcript: str | None = None

    @property
    def audio_seconds(self) -> float:
        return self.audio.duration

    def engine_request(self):
        from server.engine import GenerationRequest, Key

        return GenerationRequest(
            audio=self.audio, fps=self.fps, samples=self.samples, seed=self.seed,
            steps=self.steps, guidance=self.guidance, lip_closure=self.lip_closure,
            keys=[Key(frame, channel, value) for frame, channel, value in self.keys],
            existing=self.existing, regenerate=self.regenerate, regenerate_channels=self.regenerate_channels,
            offset=self.offset, style=self.style, style_guidance=self.style_guidance, language=self.language,
            transcript=self.transcript)


def decode_audio(text: str, max_seconds: float) -> Audio:
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise FieldError("audio", "not valid base64; send the file's bytes base64-encoded "
                                  "(standard alphabet, with padding)") from None
    try:
        return load_audio(data, max_duration_s=max_seconds)
    except InputError as e:
        message = str(e)
        raise FieldError("audio", message.removeprefix("audio: ")) from None


def _channel(name: str, field: str) -> str:
    canonical = arkit.canonical_name(name)
    if canonical is None:
        raise FieldError(field, f"{name!r} is not an ARKit channel name; use one of the 52 names "
                                "listed by GET /v1/health, e.g. 'jawOpen'")
    return canonical


def _frame_in_audio(frame: int, frames: int, field: str, fps: float, duration: float) -> None:
    if frame >= frames:
        raise FieldError(field, f"frame {frame} is past the last frame {frames - 1} of the "
                                f"{duration:.2f} s audio at {fps:g} fps")


def check_style(style, style_input: bool = True) -> dict | None:
    """A job's `style` -> a checked partial style, or a FieldError naming the key at fault."""
    if style is None:
        return None
    values = style.model_dump(exclude_none=True) if hasattr(style, "model_dump") else style
    if not values:
        return None
    if not style_input:
        raise FieldError("style", "this model has no style input; leave `style` out or serve a style-conditioned "
                                  "checkpoint (GET /v1/health says `style`)")
    try:
        return check_values(values)
    except StyleError as e:
        field, _, message = str(e).partition(": ")
        raise FieldError(field, message) from None


def prepare(request: JobRequest, *, max_audio_seconds: float = limits.MAX_AUDIO_SECONDS,
            seed: int = 0, style_input: bool = True) -> PreparedJob:
    """Check every field against the audio; ``seed`` is used when the request leaves it null;
    ``style_input``: whether the model takes a style (else a `style` is refused)."""
    style = check_style(request.style, style_input)
    try:
        language = check_language(request.language)
    except LanguageError as e:
        raise FieldError("language", str(e).removeprefix("language: ")) from None
    transcript = request.transcript.strip() if request.transcript else None
    audio = decode_audio(request.audio, max_audio_seconds)
    fps = request.fps
    frames = num_frames(audio.duration, fps)  # the engine's own count

    keys: list[tuple[int, str, float]] = []
    seen: dict[tuple[int, str], int] = {}
    for i, key in enumerate(request.keys):
        channel = _channel(key.channel, f"keys[{i}].channel")
        _frame_in_audio(key.frame, frames, f"keys[{i}].frame", fps, audio.duration)
        if (key.frame, channel) in seen:
            raise FieldError(f"keys[{i}]", f"pins {channel} at frame {key.frame} like "
                                           f"keys[{seen[key.frame, channel]}]; send one key per frame and channel")
        seen[key.frame, channel] = i
        keys.append((key.frame, channel, float(key.value)))

    existing = None
    if request.existing is not None:
        existing = _existing_curves(request, frames, audio.duration)

    if abs(request.offset) > limits.MAX_OFFSET_SECONDS * fps:
        raise FieldError("offset", f"{request.offset:g} frames is more than {limits.MAX_OFFSET_SECONDS:g} s at "
                                   f"{fps:g} fps; lead or lag by at most {limits.MAX_OFFSET_SECONDS * fps:g} frames")
    regenerate = regenerate_channels = None
    if request.regenerate is not None:
        if existing is None:
            raise FieldError("regenerate", "needs `existing`: the curves whose other frames are kept")
        start, end = request.regenerate.start, request.regenerate.end
        if end < start:
            raise FieldError("regenerate", f"end {end} is before start {start}; the range is inclusive, "
                                           "so a one-frame range has end == start")
        _frame_in_audio(end, frames, "regenerate.end", fps, audio.duration)
        regenerate = (start, end)
        if request.regenerate.channels is not None:
            regenerate_channels = _channel_subset(request.regenerate.channels, "regenerate.channels")
    elif existing is not None:
        raise FieldError("existing", "send `regenerate` too (the frames to replace); "
                                     "without it the existing curves would have no effect")

    return PreparedJob(audio=audio, fps=fps, samples=request.samples,
                       seed=request.seed if request.seed is not None else seed,
                       steps=request.steps, guidance=request.guidance, lip_closure=request.lip_closure, keys=keys,
                       existing=existing, regenerate=regenerate, frames=frames,
                       regenerate_channels=regenerate_channels, offset=float(request.offset), style=style,
                       style_guidance=request.style_guidance, language=language, transcript=transcript or None)


def _channel_subset(names: list[str], field: str) -> tuple[str, ...]:
    channels: dict[str, int] = {}
    for i, name in enumerate(names):
        channel = _channel(name, f"{field}[{i}]")
        if channel in channels:
            raise FieldError(f"{field}[{i}]", f"{name!r} names {channel} again (already {field}[{channels[channel]}])")
        channels[channel] = i
    return tuple(channels)


def _named_columns(names: list[str], field: str) -> tuple[list[int], set[str]]:
    """Column names -> their channel indices (each channel once) and the channels named."""
    columns: list[int] = []
    named: dict[str, int] = {}
    for i, name in enumerate(names):
        channel = _channel(name, f"{field}[{i}]")
        if channel in named:
            raise FieldError(f"{field}[{i}]", f"{name!r} names {channel} again (already {field}[{named[channel]}])")
        named[channel] = i
        columns.append(arkit.INDEX[channel])
    return columns, set(named)


def _table(rows: list[list[float]], columns: list[int], field: str) -> np.ndarray:
    """Rows of values in ``columns`` -> (frames, 52) float32 curves (other channels 0), each value in [0, 1]."""
    width = len(columns)
    for t, row in enumerate(rows):
        if len(row) != width:
            raise FieldError(f"{field}[{t}]", f"has {len(row)} values; send one per channel ({width})")
    values = np.asarray(rows, dtype=np.float64)
    outside = np.argwhere((values < 0.0) | (values > 1.0))
    if len(outside):
        t, c = (int(v) for v in outside[0])
        raise FieldError(f"{field}[{t}][{c}]", f"{values[t, c]:g} is outside [0, 1]")
    curves = np.zeros((len(rows), arkit.NUM_CHANNELS), dtype=np.float32)
    curves[:, columns] = values
    return curves


def _existing_curves(request: JobRequest, frames: int, duration: float) -> np.ndarray:
    existing = request.existing
    columns, named = _named_columns(existing.channels, "existing.channels")
    missing = [c for c in arkit.CHANNELS if c not in named]
    if missing:
        raise FieldError("existing.channels", f"missing {len(missing)} of the 52 ARKit channels "
                                              f"({', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}); "
                                              "send every channel")
    if len(existing.frames) != frames:
        raise FieldError("existing.frames", f"has {len(existing.frames)} rows but the {duration:.2f} s audio "
                                            f"is {frames} frames at {request.fps:g} fps; send one row per frame")
    return _table(existing.frames, columns, "existing.frames")


def reference_curves(request) -> np.ndarray:
    """POST /v1/style's curves -> (frames, 52) float32; channels it leaves out are 0."""
    columns, _named = _named_columns(request.channels, "channels")
    return _table(request.frames, columns, "frames")
