"""Audio in: any WAV, FLAC or OGG becomes level-normalised float32 mono at 16 kHz.

Every edge case has a defined outcome: empty, undecodable, NaN-filled, out-of-range
sample rates and over-long input raise ``InputError`` with what to fix; silent input
stays silent (the model answers with a resting face); clipped input is used as it is.
"""

from __future__ import annotations

import io
import os
import dataclasses
from dataclasses import dataclass
from math import gcd

import numpy as np
import soundfile as sf

from server.errors import InputError
from server.limits import MAX_AUDIO_SECONDS

SAMPLE_RATE = 16000
MIN_INPUT_RATE = 8000
MAX_INPUT_RATE = 48000
MIN_DURATION_S = 0.2
MAX_DURATION_S = MAX_AUDIO_SECONDS  # the engine is linear in length; this bounds one request's work
MAX_INPUT_CHANNELS = 8  # 7.1 at most; the model hears one mixed-down channel anyway
# Decoding cost is bounded by samples (frames x channels): the longest audio in stereo at the
# highest rate. A many-channel file gets proportionally less time.
COST_CHANNELS = 2
DECODE_BLOCK_FRAMES = 65536  # one block of 8 channels is 2 MiB of float32
# libsndfile reports SF_COUNT_MAX frames for a file of unknown length (which it then cannot read
# in blocks either); no real file comes near 2**62 frames.
UNKNOWN_FRAMES = 2**62
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


def joined(parts: list[Audio]) -> Audio:
    """One clip of ``parts`` played one after another (the first part's source description)."""
    if len(parts) == 1:
        return parts[0]
    return dataclasses.replace(parts[0], samples=np.concatenate([a.samples for a in parts]))


def _describe(source) -> str:
    return "the audio" if isinstance(source, (bytes, bytearray, memoryview)) else str(source)


def _reason(e: Exception) -> str:
    """libsndfile's message without the object repr it starts with ("Error opening <...>: ")."""
    text = str(e)
    return text.split(": ", 1)[1] if text.startswith("Error opening") and ": " in text else text


def _read(source, max_duration_s: float) -> tuple[np.ndarray, int, int, float]:
    """Decode to mono float32 at the file's own rate: (mono, rate, channels, clipped fraction).

    What the file will cost is checked from its header before any sample is decoded (rate,
    channels, duration, frames x channels), and again while decoding, in blocks, because a
    header can lie: a few KiB of OGG or FLAC can claim nothing and expand to gigabytes. Each
    block is mixed down to mono at once, so memory is the mono signal plus one block.
    """
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
        sound = sf.SoundFile(f)
    except Exception as e:  # libsndfile's errors vary by format; all mean "cannot decode"
        raise InputError(f"audio: cannot decode {name} ({_reason(e)}); give a WAV, FLAC or OGG file") from None
    with sound:
        rate, channels = int(sound.samplerate), int(sound.channels)
        _check_header(name, rate, channels, int(sound.frames), max_duration_s)
        max_frames = int(max_duration_s * rate) + 1
        max_samples = int(max_duration_s * MAX_INPUT_RATE * COST_CHANNELS) + 1
        # The header's frame count is only a hint (a lying one is caught below), so never trust it
        # past the limit for the space set aside.
        mono = np.empty(min(max(int(sound.frames), 0), max_frames), np.float32)
        extra: list[np.ndarray] = []
        seen = clipped = 0
        try:
            for block in sound.blocks(blocksize=DECODE_BLOCK_FRAMES, dtype="float32", always_2d=True):
                n = block.shape[0]
                if seen + n > max_frames:
                    raise InputError(f"audio: {name} is longer than the limit of {max_duration_s / 60:g} minutes "
                                     "(counted while decoding); split it")
                if (seen + n) * channels > max_samples:
                    raise InputError(_too_costly(name, channels, seen + n, max_samples))
                if not np.all(np.isfinite(block)):
                    raise InputError(f"audio: {name} contains NaN or infinite samples; re-export it")
                # float64 sums: float32 samples far beyond full scale (a float WAV may hold 1e38)
                # must not overflow to infinity when channels are added.
                block_mono = block.mean(axis=1, dtype=np.float64).astype(np.float32)
                clipped += int(np.count_nonzero(np.abs(block_mono) >= 0.999))
                if seen + n <= len(mono):
                    mono[seen:seen + n] = block_mono
                else:
                    inside = max(0, len(mono) - seen)
                    mono[seen:seen + inside] = block_mono[:inside]
                    extra.append(block_mono[inside:])
                seen += n
        except InputError:
            raise
        except Exception as e:
            raise InputError(f"audio: cannot decode {name} ({_reason(e)}); give a WAV, FLAC or OGG file") from None
    mono = np.concatenate([mono[:seen], *extra]) if extra else mono[:seen]
    return mono, rate, channels, clipped / seen if seen else 0.0


def _check_header(name: str, rate: int, channels: int, frames: int, max_duration_s: float) -> None:
    if frames >= UNKNOWN_FRAMES:
        raise InputError(f"audio: {name} does not say how long it is (a stream written without its length, "
                         "e.g. FLAC from a pipe); export it as a complete WAV, FLAC or OGG file")
    if not (MIN_INPUT_RATE <= rate <= MAX_INPUT_RATE):
        raise InputError(f"audio: sample rate {rate} Hz is outside {MIN_INPUT_RATE}-{MAX_INPUT_RATE} Hz; "
                         "resample it (e.g. to 16000 or 48000 Hz)")
    if not 1 <= channels <= MAX_INPUT_CHANNELS:
        raise InputError(f"audio: {name} has {channels} channels; at most {MAX_INPUT_CHANNELS} are accepted, "
                         "so mix it down to mono or stereo")
    if frames > 0 and frames / rate > max_duration_s:
        raise InputError(f"audio: {name} is {frames / rate / 60:.1f} minutes long; "
                         f"the limit is {max_duration_s / 60:g} minutes, so split it")
    max_samples = int(max_duration_s * MAX_INPUT_RATE * COST_CHANNELS) + 1
    if frames > 0 and frames * channels > max_samples:
        raise InputError(_too_costly(name, channels, frames, max_samples))


def _too_costly(name: str, channels: int, frames: int, max_samples: int) -> str:
    return (f"audio: {name} holds {channels} channels x {frames} frames, more samples to decode than "
            f"{max_samples} (the longest allowed audio in stereo at {MAX_INPUT_RATE} Hz); "
            "mix it down to mono or stereo, or split it")


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
    x64 = x.astype(np.float64) / peak  # squares of raw float32 samples overflow past about 1.8e19
    if n >= 1:
        rms = np.sqrt(np.mean(x64[: n * frame].reshape(n, frame) ** 2, axis=1) + 1e-12)
        active = rms[rms > rms.max() * 10 ** (-40 / 20)]
        level = float(np.sqrt(np.mean(active**2))) * peak
    else:
        level = float(np.sqrt(np.mean(x64**2))) * peak
    gain_db = np.clip(TARGET_RMS_DBFS - 20 * np.log10(level + 1e-12), -MAX_GAIN_DB, MAX_GAIN_DB)
    y = x64 * (peak * 10 ** (gain_db / 20))
    return np.clip(y, -1.0, 1.0).astype(np.float32)


def load_audio(source, *, max_duration_s: float = MAX_DURATION_S) -> Audio:
    """Decode a path or the bytes of a WAV/FLAC/OGG file into normalised 16 kHz mono."""
    mono, rate, channels, clipped = _read(source, max_duration_s)
    name = _describe(source)
    if mono.shape[0] == 0:
        raise InputError(f"audio: {name} holds no samples; give a file with speech in it")
    duration = mono.shape[0] / rate
    if duration < MIN_DURATION_S:
        raise InputError(f"audio: {name} is {duration:.3f} s long; at least {MIN_DURATION_S} s is needed")
    peak = float(np.max(np.abs(mono)))
    if peak > 1.0:
        # Float files may go past full scale (the level is normalised below anyway); bringing the
        # peak to 1 first keeps resampling and the level maths finite for any float32 input.
        mono = (mono / np.float32(peak)).astype(np.float32)
    mono = resample(mono, rate, SAMPLE_RATE)
    normalised = normalise_level(mono)
    return Audio(samples=normalised, source_rate=rate, source_channels=channels,
                 clipped_fraction=clipped, silent=not np.any(normalised))
