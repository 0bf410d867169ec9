"""The two references the model is compared with on real speech.

- **Teacher on the forced alignment**: the articulatory teacher (server.teacher) driven by the
  phones pocketsphinx aligned to the transcript. It is what a phoneme pipeline such as
  Rhubarb Lip Sync does, with the transcript's help: the ceiling the model (audio only) aims at.
- **Jaw follows loudness**: jawOpen = the audio's RMS envelope at each frame (the teacher's
  ``loudness_envelope``: a two-frame window centred on t / fps), scaled so that the file's
  95th-percentile level opens the jaw to JAW_AT_P95, clipped to [0, 1]; every other channel 0.
"""

from __future__ import annotations

import numpy as np

from addon.core.arkit import INDEX, NUM_CHANNELS
from server.audio import SAMPLE_RATE

JAW_AT_P95 = 0.6


def _require_16k(sample_rate: int) -> None:
    if sample_rate != SAMPLE_RATE:
        raise ValueError(f"the references need 16 kHz audio (server.audio.load_audio), got {sample_rate} Hz")


def jaw_follows_loudness(samples: np.ndarray, sample_rate: int, fps: float = 30.0) -> np.ndarray:
    """(T, 52) curves: jawOpen = JAW_AT_P95 * RMS / (95th-percentile RMS), clipped to [0, 1]."""
    from server.teacher import loudness_envelope

    _require_16k(sample_rate)
    rms = loudness_envelope(samples, fps).astype(np.float64)
    curves = np.zeros((len(rms), NUM_CHANNELS), np.float32)
    reference = np.percentile(rms, 95) if len(rms) else 0.0
    if reference > 0:
        curves[:, INDEX["jawOpen"]] = np.clip(JAW_AT_P95 * rms / reference, 0.0, 1.0)
    return curves


def teacher_on_alignment(phones, samples: np.ndarray, sample_rate: int, fps: float = 30.0) -> np.ndarray:
    """(T, 52) curves of the articulatory teacher driven by aligned phones and the audio's loudness.

    The teacher gets its default style (style=None) and seed 0, so the reference is one
    fixed, reproducible performance.
    """
    from server.teacher import loudness_envelope, teacher_curves

    _require_16k(sample_rate)
    duration = len(samples) / sample_rate
    return np.asarray(teacher_curves(phones, duration, fps=fps, loudness=loudness_envelope(samples, fps)),
                      dtype=np.float32)
