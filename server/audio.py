"""Audio in: any WAV, FLAC or OGG becomes level-normalised float32 mono at 16 kHz.

Every edge case has a defined outcome: empty, undecodable, NaN-filled, out-of-range
sample rates and over-long input raise ``InputError`` with what to fix; silent input
stays silent (the model answers with a resting face); clipped input is used as it is.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from math import gcd

import numpy as np
import soundfile as sf

from server.errors import InputError

SAMPLE_RATE = 16000
MIN_INPUT_RATE = 8000
MAX_INPUT_RATE = 48000
MIN_DURATION_S = 0.2
MAX_DURATION_S = 30 * 60.0  # the engine is linear in length; this bounds one request's work
TARGET_RMS_DBFS = -23.0
MAX_GAIN_DB = 30.0  # quiet speech is lifted, but a noise floor is not blown up into speech
SILENCE_PEAK = 1e-4  # below this peak the input is treated as silence (about -80 dBFS)


@dataclass
class Audio:
    samples: np.ndarray  # float32 mono at SAMPLE_RATE, level-normalised
    sample_rate: int = SAMPLE_RATE
    source_rate: int = SAMPLE_RATE
    source_channels: int = 1
    clipped_fraction: float = 0.0
    silent: bool = False

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


def _describe(source) -> str:
    return "the audio" if isinstance(source, (bytes, bytearray, memoryview)) else str(source)


def _reason(e: Exception) -> str:
    """libsndfile's message without the object repr it starts with ("Error opening <...>: ")."""
    text = str(e)
    return text.split(": ", 1)[1] if text.startswith("Error opening") and ": " in text else text


def _read(source, max_duration_s: float) -> tuple[np.ndarray, int]:
    name = _describe(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise InputError("audio: the data is empty; send the bytes of a WAV, FLAC or OGG file")
        f = io.BytesIO(bytes(source))
    else:
        if not os.path.exists(source):
            raise InputError(f"audio: {name} does not exist")
        if os.path.getsize(source) == 0:
            raise InputError(f"audio: {name} is an empty file; give a WAV, FLAC or OGG file with speech")
        f = source
    try:
        with sf.SoundFile(f) as sound:
            # Refuse over-long input before decoding it (a small compressed file can hold hours).
            if sound.frames > 0 and sound.samplerate > 0 and sound.frames / sound.samplerate > max_duration_s:
                raise InputError(f"audio: {name} is {sound.frames / sound.samplerate / 60:.1f} minutes long; "
                                 f"the limit is {max_duration_s / 60:.0f} minutes, so split it")
            data = sound.read(dtype="float32", always_2d=True)
            rate = sound.samplerate
    except InputError:
        raise
    except Exception as e:  # libsndfile's errors vary by format; all mean "cannot decode"
        raise InputError(f"audio: cannot decode {name} ({_reason(e)}); give a WAV, FLAC or OGG file") from None
    return data, int(rate)


def resample(x: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """Band-limited polyphase resampling."""
    if src_rate == dst_rate:
        return x.astype(np.float32, copy=False)
    from scipy.signal import resample_poly

    g = gcd(src_rate, dst_rate)
    return resample_poly(x, dst_rate // g, src_rate // g).astype(np.float32)


def normalise_level(x: np.ndarray) -> np.ndarray:
    """Scale so the active (non-silent) part sits at TARGET_RMS_DBFS, with a capped gain."""
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    if peak < SILENCE_PEAK:
        return np.zeros_like(x)
    frame = 400
    n = len(x) // frame
    if n >= 1:
        rms = np.sqrt(np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1) + 1e-12)
        active = rms[rms > rms.max() * 10 ** (-40 / 20)]
        level = float(np.sqrt(np.mean(active**2)))
    else:
        level = float(np.sqrt(np.mean(x**2)))
    gain_db = np.clip(TARGET_RMS_DBFS - 20 * np.log10(level + 1e-12), -MAX_GAIN_DB, MAX_GAIN_DB)
    y = x * np.float32(10 ** (gain_db / 20))
    return np.clip(y, -1.0, 1.0).astype(np.float32)


def load_audio(source, *, max_duration_s: float = MAX_DURATION_S) -> Audio:
    """Decode a path or the bytes of a WAV/FLAC/OGG file into normalised 16 kHz mono."""
    data, rate = _read(source, max_duration_s)
    name = _describe(source)
    if data.shape[0] == 0:
        raise InputError(f"audio: {name} holds no samples; give a file with speech in it")
    if not (MIN_INPUT_RATE <= rate <= MAX_INPUT_RATE):
        raise InputError(f"audio: sample rate {rate} Hz is outside {MIN_INPUT_RATE}-{MAX_INPUT_RATE} Hz; "
                         "resample it (e.g. to 16000 or 48000 Hz)")
    if not np.all(np.isfinite(data)):
        raise InputError(f"audio: {name} contains NaN or infinite samples; re-export it")
    duration = data.shape[0] / rate
    if duration < MIN_DURATION_S:
        raise InputError(f"audio: {name} is {duration:.3f} s long; at least {MIN_DURATION_S} s is needed")
    if duration > max_duration_s:
        raise InputError(f"audio: {name} is {duration / 60:.1f} minutes long; the limit is "
                         f"{max_duration_s / 60:.0f} minutes, so split it")
    channels = data.shape[1]
    mono = data.mean(axis=1)
    clipped = float(np.mean(np.abs(mono) >= 0.999))
    mono = resample(mono, rate, SAMPLE_RATE)
    normalised = normalise_level(mono)
    return Audio(samples=normalised, source_rate=rate, source_channels=channels,
                 clipped_fraction=clipped, silent=not np.any(normalised))
