"""Audio augmentation for the synthetic corpus (numpy/scipy; sox only for pitch shifting).

FINDINGS: augmentation is what makes a model trained on TTS transfer to real speech. Every
rendering draws a parameter dict (`draw`), stored in the item's json, and `apply` renders it
deterministically. Only `speed` changes timing; phone spans are scaled with it.
"""
from __future__ import annotations

import shutil
import subprocess
from fractions import Fraction

import numpy as np
from scipy.signal import butter, fftconvolve, lfilter, resample_poly, sosfilt

from server.audio import SAMPLE_RATE

from .phones import Phones, scale


class AugmentError(RuntimeError):
    pass


# ------------------------------------------------------------------------------------- draw
def draw(rng: np.random.Generator, *, babble_available: bool = True) -> dict:
    """Random augmentation parameters (plain JSON types)."""
    p: dict = {"speed": round(float(rng.uniform(0.85, 1.18)), 4)}
    if rng.random() < 0.5:
        p["pitch_semitones"] = round(float(rng.uniform(-3.0, 3.0)), 3)
    if rng.random() < 0.5:
        p["formant"] = round(float(rng.uniform(0.88, 1.15)), 4)
    if rng.random() < 0.6:
        p["eq"] = [[round(float(rng.uniform(np.log(150), np.log(6000))), 4),   # log centre frequency
                    round(float(rng.uniform(-9, 9)), 2),                          # gain dB
                    round(float(rng.uniform(0.5, 2.5)), 3)]                       # Q
                   for _ in range(int(rng.integers(1, 4)))]
    r = rng.random()
    if r < 0.12:
        p["band"] = {"kind": "telephone"}
    elif r < 0.35:
        p["band"] = {"kind": "lowpass", "cutoff": round(float(rng.uniform(4000, 7800)), 1)}
    if rng.random() < 0.5:
        p["reverb"] = {"rt60": round(float(rng.uniform(0.15, 0.9)), 3),
                       "wet_db": round(float(rng.uniform(-18, -3)), 2),
                       "seed": int(rng.integers(0, 2**31))}
    if rng.random() < 0.8:
        kinds = ["white", "pink", "brown"] + (["babble", "babble"] if babble_available else [])
        p["noise"] = {"kind": kinds[int(rng.integers(0, len(kinds)))],
                      "snr_db": round(float(rng.uniform(10, 40)), 2),
                      "seed": int(rng.integers(0, 2**31))}
    p["peak_db"] = round(float(rng.uniform(-24, -1)), 2)
    if rng.random() < 0.15:
        p["clip"] = {"drive_db": round(float(rng.uniform(1, 8)), 2), "soft": bool(rng.random() < 0.5)}
    return p


# ------------------------------------------------------------------------------------- ops
def change_speed(audio: np.ndarray, factor: float) -> tuple[np.ndarray, float]:
    """Resample so playback is `factor` times faster (pitch and formants move with it, as a
    faster/higher talker). Returns the audio and the exact time-scale applied to timings."""
    ratio = Fraction(1.0 / factor).limit_denominator(200)
    out = resample_poly(audio, ratio.numerator, ratio.denominator).astype(np.float32)
    return out, len(out) / len(audio)


def shift_pitch(audio: np.ndarray, semitones: float) -> np.ndarray:
    """Pitch shift keeping duration (sox WSOLA + resample); output has the input's length."""
    if shutil.which("sox") is None:
        raise AugmentError("sox not found: apt-get install sox (needed for pitch augmentation)")
    headroom = 0.5 / max(float(np.max(np.abs(audio))), 1e-6)
    proc = subprocess.run(
        ["sox", "-D", "-t", "f32", "-r", str(SAMPLE_RATE), "-c", "1", "-", "-t", "f32", "-", "pitch",
         f"{semitones * 100:.1f}"],
        input=(audio * headroom).astype("<f4").tobytes(), capture_output=True)
    if proc.returncode != 0:
        raise AugmentError(f"sox pitch failed: {proc.stderr.decode()[:200]}")
    out = np.frombuffer(proc.stdout, dtype="<f4") / headroom
    fixed = np.zeros_like(audio)
    fixed[:min(len(out), len(audio))] = out[:len(audio)]
    return fixed


def _stft(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    pad = np.pad(x, (n_fft // 2, n_fft // 2 + hop))
    n = 1 + (len(pad) - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(n)[:, None]
    return np.fft.rfft(pad[idx] * np.hanning(n_fft + 1)[:-1], axis=1)


def _istft(spec: np.ndarray, n_fft: int, hop: int, length: int) -> np.ndarray:
    window = np.hanning(n_fft + 1)[:-1]
    frames = np.fft.irfft(spec, n=n_fft, axis=1) * window
    total = n_fft + hop * (len(frames) - 1)
    out = np.zeros(total)
    norm = np.zeros(total)
    for k in range(len(frames)):                      # overlap-add; a few hundred frames per second
        out[k * hop:k * hop + n_fft] += frames[k]
        norm[k * hop:k * hop + n_fft] += window ** 2
    out /= np.maximum(norm, 1e-8)
    return out[n_fft // 2:n_fft // 2 + length]


def shift_formants(audio: np.ndarray, factor: float, *, n_fft: int = 512, hop: int = 128,
                   lifter: int = 28) -> np.ndarray:
    """Scale the spectral envelope's frequency axis by `factor` (vocal-tract length) keeping pitch:
    cepstrally smoothed log envelope per frame, warped, applied as a gain to the original STFT."""
    spec = _stft(audio.astype(np.float64), n_fft, hop)
    log_mag = np.log(np.abs(spec) + 1e-7)
    cep = np.fft.irfft(log_mag, axis=1)
    cep[:, lifter:n_fft - lifter + 1] = 0.0
    envelope = np.fft.rfft(cep, axis=1).real
    bins = np.arange(envelope.shape[1], dtype=np.float64)
    source = np.clip(bins / factor, 0, bins[-1])
    lo = np.floor(source).astype(int)
    hi = np.minimum(lo + 1, len(bins) - 1)
    frac = source - lo
    warped = envelope[:, lo] * (1 - frac) + envelope[:, hi] * frac
    gain = np.exp(np.clip(warped - envelope, -6.0, 6.0))
    return _istft(spec * gain, n_fft, hop, len(audio)).astype(np.float32)


def equalise(audio: np.ndarray, bands: list) -> np.ndarray:
    """Cascade of peaking biquads (RBJ cookbook); bands = [[log_fc, gain_db, q], ...]."""
    out = audio.astype(np.float64)
    for log_fc, gain_db, q in bands:
        fc = min(np.exp(log_fc), SAMPLE_RATE * 0.45)
        a = 10 ** (gain_db / 40)
        w0 = 2 * np.pi * fc / SAMPLE_RATE
        alpha = np.sin(w0) / (2 * q)
        b = [1 + alpha * a, -2 * np.cos(w0), 1 - alpha * a]
        den = [1 + alpha / a, -2 * np.cos(w0), 1 - alpha / a]
        out = lfilter(b, den, out)
    return out.astype(np.float32)


def band_limit(audio: np.ndarray, band: dict) -> np.ndarray:
    if band["kind"] == "telephone":
        sos = butter(6, [300, 3400], btype="bandpass", fs=SAMPLE_RATE, output="sos")
        narrow = sosfilt(sos, audio)
        # 8 kHz round trip with G.711 mu-law quantisation, like a narrowband phone line.
        low = resample_poly(narrow, 1, 2)
        peak = max(float(np.max(np.abs(low))), 1e-9)
        mu = 255.0
        companded = np.sign(low / peak) * np.log1p(mu * np.abs(low / peak)) / np.log1p(mu)
        quantised = np.round(companded * 127) / 127
        low = np.sign(quantised) * np.expm1(np.abs(quantised) * np.log1p(mu)) / mu * peak
        return resample_poly(low, 2, 1)[:len(audio)].astype(np.float32)
    sos = butter(8, band["cutoff"], btype="lowpass", fs=SAMPLE_RATE, output="sos")
    return sosfilt(sos, audio).astype(np.float32)


def room_impulse(rt60: float, rng: np.random.Generator) -> np.ndarray:
    """Synthetic room impulse response: direct path at t=0, sparse early reflections, then
    exponentially decaying noise (decay set by RT60) with high frequencies dying faster."""
    length = int(min(rt60 * 1.2, 1.2) * SAMPLE_RATE)
    t = np.arange(length) / SAMPLE_RATE
    tail = rng.standard_normal(length) * np.exp(-6.9 * t / rt60)
    tail = lfilter([0.6], [1, -0.4], tail)             # gentle air/wall absorption
    onset = int(rng.uniform(0.004, 0.02) * SAMPLE_RATE)
    tail[:onset] = 0.0
    for _ in range(6):
        k = int(rng.uniform(0.003, 0.04) * SAMPLE_RATE)
        if k < length:
            tail[k] += rng.uniform(-0.6, 0.6)
    return tail


def reverberate(audio: np.ndarray, rt60: float, wet_db: float, seed: int) -> np.ndarray:
    rir = room_impulse(rt60, np.random.default_rng(seed))
    wet = fftconvolve(audio, rir)[:len(audio)]
    wet *= 10 ** (wet_db / 20) * np.sqrt(np.mean(audio ** 2) / max(np.mean(wet ** 2), 1e-12))
    return (audio + wet).astype(np.float32)


def coloured_noise(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    white = rng.standard_normal(n)
    if kind == "white":
        return white
    spec = np.fft.rfft(white)
    f = np.maximum(np.fft.rfftfreq(n, 1 / SAMPLE_RATE), 20.0)
    spec /= np.sqrt(f) if kind == "pink" else f
    return np.fft.irfft(spec, n)


def babble(n: int, bank: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """Several other corpus utterances at random offsets and levels, looped to length n."""
    if not bank:
        raise AugmentError("babble needs a bank of other utterances")
    out = np.zeros(n)
    for _ in range(int(rng.integers(3, 7))):
        src = bank[int(rng.integers(0, len(bank)))]
        src = src / max(np.sqrt(np.mean(src ** 2)), 1e-6)
        reps = int(np.ceil((n + len(src)) / len(src)))
        tiled = np.tile(src, reps)
        off = int(rng.integers(0, len(src)))
        out += tiled[off:off + n] * 10 ** (rng.uniform(-6, 0) / 20)
    return out


def add_noise(audio: np.ndarray, noise: dict, bank: list[np.ndarray]) -> np.ndarray:
    rng = np.random.default_rng(noise["seed"])
    if noise["kind"] == "babble":
        n = babble(len(audio), bank, rng)
    else:
        n = coloured_noise(noise["kind"], len(audio), rng)
    # SNR against the speech's active level (frames within 30 dB of the loudest), not the
    # pause-diluted mean, so long pauses don't make the noise louder.
    frames = audio[:len(audio) // 160 * 160].reshape(-1, 160)
    power = np.mean(frames.astype(np.float64) ** 2, axis=1)
    active = power[power > power.max() * 1e-3] if power.size else np.array([1e-6])
    speech_power = float(np.mean(active)) if active.size else 1e-6
    noise_power = max(float(np.mean(n ** 2)), 1e-12)
    n *= np.sqrt(speech_power / noise_power / 10 ** (noise["snr_db"] / 10))
    return (audio + n).astype(np.float32)


def apply(audio: np.ndarray, phones: Phones, params: dict, bank: list[np.ndarray]) -> tuple[np.ndarray, Phones]:
    """Render one augmentation. Returns (audio float32 16 kHz, phones scaled to the new timing)."""
    x = audio.astype(np.float32)
    duration = len(x) / SAMPLE_RATE
    if "speed" in params and params["speed"] != 1.0:
        x, time_scale = change_speed(x, params["speed"])
        phones = scale(phones, time_scale)
        duration = len(x) / SAMPLE_RATE
        phones[-1] = (phones[-1][0], phones[-1][1], duration)
    if "pitch_semitones" in params:
        x = shift_pitch(x, params["pitch_semitones"])
    if "formant" in params:
        x = shift_formants(x, params["formant"])
    if "eq" in params:
        x = equalise(x, params["eq"])
    if "band" in params:
        x = band_limit(x, params["band"])
    if "reverb" in params:
        r = params["reverb"]
        x = reverberate(x, r["rt60"], r["wet_db"], r["seed"])
    if "noise" in params:
        x = add_noise(x, params["noise"], bank)
    peak = max(float(np.max(np.abs(x))), 1e-9)
    x = x * (10 ** (params.get("peak_db", -3.0) / 20) / peak)
    if "clip" in params:
        c = params["clip"]
        drive = 10 ** (c["drive_db"] / 20) / 10 ** (params.get("peak_db", -3.0) / 20)
        x = np.tanh(x * drive) if c["soft"] else np.clip(x * drive, -1.0, 1.0)
        x = x * 0.95
    return np.clip(x, -1.0, 1.0).astype(np.float32), phones
