"""Sound strips -> one mono 16-bit WAV of the frame range, for the sidecar.

Pure standard library (no ``audioop``, gone in Python 3.13; no numpy): WAV files are decoded
here (PCM 8/16/24/32-bit and IEEE float, plain or WAVE_FORMAT_EXTENSIBLE). Files the standard
library cannot read (MP3, FLAC, Ogg, ADPCM WAV...; ``readable_wav`` tells) are turned into WAV by
the Blender layer with Blender's own decoders and then read here too.

Timing follows Blender's sequencer: a strip's sound starts playing at ``frame_start`` (its
content start) and is heard from ``frame_final_start`` to ``frame_final_end`` (exclusive), the
trimmed, visible part. Audio time 0 of the mixdown is the range's first frame; the mixdown lasts
``(range_end - range_start + 1) / fps`` seconds (rounded down to a whole sample). Volume is the strip's static volume
(animated volume is not followed); pan is ignored (the mixdown is mono).
"""

from __future__ import annotations

import io
import itertools
from itertools import repeat
import math
import operator
import struct
import sys
import wave
from array import array
from dataclasses import dataclass
from typing import Sequence

from .resample import frame_count

# The sidecar's models work at 16 kHz; sending that rate keeps requests small.
DEFAULT_RATE = 16000
_SILENCE = 1e-4  # peak below which a mixdown counts as silent


class MixdownError(ValueError):
    """Audio that cannot be mixed; the message says what to fix."""


@dataclass
class Audio:
    """Decoded mono audio: sample i is ``samples[i] * scale`` (kept unscaled for speed)."""

    rate: int
    samples: Sequence[float]
    scale: float = 1.0

    @property
    def duration(self) -> float:
        return len(self.samples) / self.rate


@dataclass
class StripSound:
    """One sound strip as the sequencer places it."""

    name: str
    audio: Audio
    frame_start: float          # scene frame where the sound's first sample plays
    frame_final_start: float    # first frame heard (after trimming the start)
    frame_final_end: float      # frame where it stops being heard (exclusive)
    volume: float = 1.0
    mute: bool = False


_WAVE_FORMAT_PCM = 1
_WAVE_FORMAT_IEEE_FLOAT = 3
_WAVE_FORMAT_EXTENSIBLE = 0xFFFE


# (format tag, bits per sample) that decode_wav reads
_READABLE = {(_WAVE_FORMAT_PCM, 8), (_WAVE_FORMAT_PCM, 16), (_WAVE_FORMAT_PCM, 24), (_WAVE_FORMAT_PCM, 32),
             (_WAVE_FORMAT_IEEE_FLOAT, 32), (_WAVE_FORMAT_IEEE_FLOAT, 64)}


def _format(fmt: bytes) -> tuple[int, int, int, int]:
    """(format tag, channels, rate, bits) of a fmt chunk's body (the sub-format of EXTENSIBLE)."""
    tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", fmt, 0)
    if tag == _WAVE_FORMAT_EXTENSIBLE and len(fmt) >= 26:
        tag = struct.unpack_from("<H", fmt, 24)[0]  # first two bytes of the sub-format GUID
    return tag, channels, rate, bits


def readable_wav(head: bytes) -> bool:
    """Whether a file that starts with ``head`` is a WAV whose encoding ``decode_wav`` reads
    (its fmt chunk must lie within ``head``; the data need not)."""
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return False
    pos = 12
    while pos + 8 <= len(head):
        chunk_id, size = head[pos:pos + 4], struct.unpack_from("<I", head, pos + 4)[0]
        if chunk_id == b"fmt ":
            body = head[pos + 8:pos + 8 + size]
            if len(body) < 16:
                return False
            tag, channels, rate, bits = _format(body)
            return channels >= 1 and rate >= 1 and (tag, bits) in _READABLE
        pos += 8 + size + (size & 1)
    return False


def decode_wav(data: bytes, name: str = "sound") -> Audio:
    """A RIFF/WAVE file's bytes -> mono ``Audio`` (channels averaged)."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise MixdownError(f"{name}: not a WAV file (no RIFF/WAVE header)")
    pos, fmt, payload = 12, None, None
    while pos + 8 <= len(data):
        chunk_id, size = data[pos:pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        body = data[pos + 8:pos + 8 + size]
        if chunk_id == b"fmt ":
            fmt = body
        elif chunk_id == b"data":
            payload = body
            if fmt is not None:
                break
        pos += 8 + size + (size & 1)
    if fmt is None or payload is None or len(fmt) < 16:
        raise MixdownError(f"{name}: WAV file has no fmt or data chunk")
    tag, channels, rate, bits = _format(fmt)
    if channels < 1 or rate < 1:
        raise MixdownError(f"{name}: WAV header says {channels} channels at {rate} Hz")
    width = bits // 8
    payload = payload[: len(payload) - len(payload) % (width * channels)] if width else b""
    if tag == _WAVE_FORMAT_PCM and bits == 8:
        raw, offset, scale = array("B", payload), 128, 1 / 128
    elif tag == _WAVE_FORMAT_PCM and bits == 16:
        raw, offset, scale = _native(array("h"), payload), 0, 1 / 32768
    elif tag == _WAVE_FORMAT_PCM and bits == 24:
        widened = bytearray(len(payload) // 3 * 4)  # 24-bit -> the top bytes of 32-bit ints
        widened[1::4], widened[2::4], widened[3::4] = payload[0::3], payload[1::3], payload[2::3]
        raw, offset, scale = _native(array("i"), bytes(widened)), 0, 1 / 2147483648
    elif tag == _WAVE_FORMAT_PCM and bits == 32:
        raw, offset, scale = _native(array("i"), payload), 0, 1 / 2147483648
    elif tag == _WAVE_FORMAT_IEEE_FLOAT and bits in (32, 64):
        raw, offset, scale = _native(array("f" if bits == 32 else "d"), payload), 0, 1.0
    else:
        raise MixdownError(
            f"{name}: unsupported WAV encoding (format tag {tag}, {bits}-bit); "
            "use 8/16/24/32-bit PCM or 32/64-bit float"
        )
    if channels == 1:
        samples = raw if offset == 0 else [s - offset for s in raw]
    else:
        planes = [raw[c::channels] for c in range(channels)]
        samples = [sum(frame) - offset * channels for frame in zip(*planes)]
        scale /= channels
    return Audio(rate=rate, samples=samples, scale=scale)


def _native(buffer: array, payload: bytes) -> array:
    buffer.frombytes(payload)
    if sys.byteorder == "big":
        buffer.byteswap()
    return buffer


def encode_wav(samples: Sequence[float], rate: int) -> bytes:
    """Float samples (clipped to [-1, 1]) -> a mono 16-bit PCM WAV file's bytes."""
    clipped = map(max, repeat(-1.0), map(min, repeat(1.0), samples))
    pcm = array("h", map(round, map(operator.mul, clipped, repeat(32767.0))))
    if sys.byteorder == "big":
        pcm.byteswap()
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return out.getvalue()


def _render_strip(strip: StripSound, out: list[float], range_start: int, fps: float, rate: int) -> bool:
    """Add ``strip`` into ``out`` (the range at ``rate``); False when none of it is heard there."""
    audio = strip.audio
    n_out = len(out)
    # Output sample j plays at scene frame range_start + j * fps / rate.
    heard_from = max(0, math.ceil((strip.frame_final_start - range_start) * rate / fps))
    heard_to = min(n_out, math.ceil((strip.frame_final_end - range_start) * rate / fps))
    src_rate, n_src = audio.rate, len(audio.samples)
    # Source position (in samples) of output sample j: (j / rate + lead) * src_rate.
    lead = (range_start - strip.frame_start) / fps
    step = src_rate / rate
    first = max(heard_from, math.ceil(-lead * rate))            # before the sound's first sample
    last = min(heard_to, math.floor((n_src / src_rate - lead) * rate))
    if last <= first or n_src == 0:
        return False
    gain = strip.volume * audio.scale
    samples = audio.samples
    # The per-sample work is done by C loops (comprehensions, map, itemgetter) over whole spans:
    # a minute of 48 kHz audio mixes in well under a second in Blender's Python.
    js = range(first, last)
    offset = lead * src_rate
    if step > 1.0:
        # Downsampling: average the source over each output sample's span (a box filter, so
        # content above the output's Nyquist is damped instead of folding into speech bands).
        prefix = array("d", itertools.accumulate(samples, initial=0.0))
        half = step / 2
        lo, hi = offset - half, offset + half
        starts = list(map(min, repeat(n_src - 1), map(max, repeat(0), map(int, (lo + j * step for j in js)))))
        ends = list(map(min, repeat(n_src), map(max, map(operator.add, starts, repeat(1)),
                                                  map(int, (hi + j * step for j in js)))))
        sums = map(operator.sub, operator.itemgetter(*ends)(prefix), operator.itemgetter(*starts)(prefix))
        widths = map(operator.sub, ends, starts)
        mixed = map(operator.truediv, sums, widths)
    else:
        positions = [min(offset + j * step, n_src - 1.0) for j in js]
        lower = [int(p) for p in positions]
        upper = [min(i + 1, n_src - 1) for i in lower]
        at_lower = operator.itemgetter(*lower)(samples)
        at_upper = operator.itemgetter(*upper)(samples)
        mixed = (a + (b - a) * (p - i) for a, b, p, i in zip(at_lower, at_upper, positions, lower))
    out[first:last] = [o + gain * m for o, m in zip(out[first:last], mixed)]
    return True


def mixdown(
    strips: Sequence[StripSound],
    range_start: int,
    range_end: int,
    fps: float,
    rate: int = DEFAULT_RATE,
) -> bytes:
    """Mix the strips heard in [range_start, range_end] (inclusive frames) into one WAV.

    Raises ``MixdownError`` when no unmuted strip is heard in the range or the result is silent.
    """
    if fps <= 0:
        raise MixdownError(f"frame rate must be positive, got {fps}")
    # Rounded down: the sidecar makes ceil(duration * fps) frames, so a mixdown a fraction of a
    # sample longer than the range (29.97 fps...) would earn one frame too many.
    n_out = int(math.floor(frame_count(range_start, range_end) / fps * rate + 1e-6))
    out = [0.0] * n_out
    audible = [s for s in strips if not s.mute and s.volume != 0.0]
    heard = [s.name for s in audible if _render_strip(s, out, range_start, fps, rate)]
    if not heard:
        muted = sorted(s.name for s in strips if s not in audible)
        hint = f" (muted or at zero volume: {', '.join(muted)})" if muted else ""
        raise MixdownError(
            f"No sound plays between frames {range_start} and {range_end}{hint}. "
            "Add a sound strip in the Video Sequencer under that range, or change the frame range."
        )
    peak = max(map(abs, out)) if out else 0.0
    if peak < _SILENCE:
        raise MixdownError(
            f"The sound between frames {range_start} and {range_end} is silent "
            f"(strips heard: {', '.join(heard)}). Check the strips' volume and their sound files."
        )
    return encode_wav(out, rate)
