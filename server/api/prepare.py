"""Turn a JobRequest into the engine's GenerationRequest, or a FieldError that names the field to fix.

Here the JSON becomes the request: base64 audio decoded, `existing`'s named columns made a
(frames, 52) array, the style and range unpacked. Then the request is checked by the engine's own
``server.request.check_request`` (one set of rules and limits for the API, the CLI and the engine),
before the job is queued, so that a bad request gets a 4xx at once instead of a job that fails
minutes later.
"""

from __future__ import annotations

import base64
import binascii

import numpy as np

from addon.core import arkit
from server import limits
from server.api.models import JobRequest
from server.audio import Audio, load_audio
from server.errors import FieldError, InputError
from server.request import GenerationRequest, Key, channel_subset, check_request

__all__ = ["FieldError", "prepare", "reference_curves"]


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


def prepare(request: JobRequest, *, max_audio_seconds: float = limits.MAX_AUDIO_SECONDS,
            seed: int = 0, style_input: bool = True) -> GenerationRequest:
    """The engine's request for a job, checked against its audio; ``seed`` is used when the request
    leaves it null; ``style_input``: whether the model takes a style (else a `style` is refused)."""
    style = request.style.model_dump(exclude_none=True) if request.style is not None else None
    audio = decode_audio(request.audio, max_audio_seconds)
    existing = None
    if request.existing is not None:
        existing = _existing_curves(request)
    regenerate = channels = None
    if request.regenerate is not None:
        regenerate = (request.regenerate.start, request.regenerate.end)
        channels = None if request.regenerate.channels is None else tuple(request.regenerate.channels)
    return check_request(GenerationRequest(
        audio=audio, fps=request.fps, samples=request.samples, seed=request.seed if request.seed is not None else seed,
        steps=request.steps, guidance=request.guidance, lip_closure=request.lip_closure,
        keys=[Key(key.frame, key.channel, float(key.value)) for key in request.keys],
        existing=existing, regenerate=regenerate, regenerate_channels=channels, offset=float(request.offset),
        style=style or None, style_guidance=request.style_guidance, language=request.language,
        transcript=request.transcript), style_input=style_input)


def _named_columns(names: list[str], field: str) -> tuple[list[int], set[str]]:
    """Column names -> their channel indices (each channel once) and the channels named."""
    channels = channel_subset(names, field)
    return [arkit.INDEX[c] for c in channels], set(channels)


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


def _existing_curves(request: JobRequest) -> np.ndarray:
    """`existing`'s named columns -> (frames, 52) curves; that it has a row per frame is the request's check."""
    existing = request.existing
    columns, named = _named_columns(existing.channels, "existing.channels")
    missing = [c for c in arkit.CHANNELS if c not in named]
    if missing:
        raise FieldError("existing.channels", f"missing {len(missing)} of the 52 ARKit channels "
                                              f"({', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}); "
                                              "send every channel")
    return _table(existing.frames, columns, "existing.frames")


def reference_curves(request) -> np.ndarray:
    """POST /v1/style's curves -> (frames, 52) float32; channels it leaves out are 0."""
    columns, _named = _named_columns(request.channels, "channels")
    return _table(request.frames, columns, "frames")
