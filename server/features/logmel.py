"""The default encoder: log-mel spectrogram (fixed) and a dilated 1D-conv stack (learned).

The log-mel is mean/variance normalised per utterance over its active frames, which takes
out a static EQ or microphone colour (FINDINGS: channel variety is what breaks transfer from
synthetic to real speech).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from server.audio import SAMPLE_RATE
from server.features.base import AudioEncoder, sample_at_frames


def mel_filterbank(n_mels: int, n_fft: int, sample_rate: int, fmin: float, fmax: float) -> np.ndarray:
    """HTK-style triangular mel filters, (n_mels, n_fft // 2 + 1)."""
    def hz_to_mel(f):
        return 2595.0 * np.log10(1.0 + f / 700.0)

    def mel_to_hz(m):
        return 700.0 * (10 ** (m / 2595.0) - 1.0)

    mels = np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2)
    hz = mel_to_hz(mels)
    bins = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    fb = np.zeros((n_mels, len(bins)), dtype=np.float32)
    for i in range(n_mels):
        lo, mid, hi = hz[i], hz[i + 1], hz[i + 2]
        up = (bins - lo) / max(mid - lo, 1e-6)
        down = (hi - bins) / max(hi - mid, 1e-6)
        fb[i] = np.maximum(0.0, np.minimum(up, down))
    return fb


def log_mel(samples: np.ndarray, n_mels: int = 80, n_fft: int = 400, hop: int = 160,
            fmin: float = 50.0, fmax: float = 7600.0) -> np.ndarray:
    """(n_mels, T) log-mel at SAMPLE_RATE / hop frames per second, frame j centred at j * hop."""
    x = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))
    if len(x) < n_fft:
        x = torch.nn.functional.pad(x, (0, n_fft - len(x)))
    spec = torch.stft(x, n_fft, hop, window=torch.hann_window(n_fft), center=True, return_complex=True)
    power = spec.abs() ** 2
    fb = torch.from_numpy(mel_filterbank(n_mels, n_fft, SAMPLE_RATE, fmin, fmax))
    mel = fb @ power
    return torch.log(mel + 1e-6).numpy()


def normalise_utterance(logmel: np.ndarray) -> np.ndarray:
    """Per-bin mean/variance normalisation over the active frames (energy within 50 dB of the peak)."""
    energy = logmel.mean(axis=0)
    active = energy > energy.max() - np.log(10 ** 5)
    ref = logmel[:, active] if active.sum() >= 10 else logmel
    mean = ref.mean(axis=1, keepdims=True)
    std = np.maximum(ref.std(axis=1, keepdims=True), 0.5)
    out = (logmel - mean) / std
    # Digital silence (all bins at the floor) is marked as such rather than normalised into noise.
    floor = np.log(1e-6) + 1.0
    out[:, energy < floor] = -3.0
    return out.astype(np.float32)


class ResidualConv(nn.Module):
    def __init__(self, channels: int, dilation: int, kernel: int = 3):
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, kernel, padding=dilation * (kernel // 2), dilation=dilation)
        self.mix = nn.Conv1d(channels, channels, 1)
        self.act = nn.GELU()

    def forward(self, x):
        return x + self.mix(self.act(self.conv(self.act(x))))


class LogMelEncoder(AudioEncoder):
    def __init__(self, n_mels: int = 80, hop: int = 160, hidden: int = 128, out_dim: int = 128,
                 dilations: tuple = (1, 2, 4, 8, 1, 2), stride: int = 2, dropout: float = 0.1):
        super().__init__()
        self.n_mels, self.hop, self.hidden, self.out_dim = n_mels, hop, hidden, out_dim
        self.dilations, self.stride = tuple(dilations), stride
        self.mel_rate = self._input_rate = SAMPLE_RATE / hop
        # The conv stack runs at mel_rate / stride (50 Hz): fine enough for a 20 ms stop closure.
        self.feature_rate = self.mel_rate / stride
        self.inp = nn.Conv1d(n_mels, hidden, 2 * stride + 1, stride=stride, padding=stride)
        self.blocks = nn.ModuleList(ResidualConv(hidden, d) for d in self.dilations)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Conv1d(hidden, out_dim, 1)
        self.receptive_radius = stride * (2 + sum(self.dilations))  # in mel frames

    def config(self) -> dict:
        return {"kind": "logmel", "n_mels": self.n_mels, "hop": self.hop, "hidden": self.hidden,
                "out_dim": self.out_dim, "dilations": list(self.dilations), "stride": self.stride}

    def features(self, samples: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(normalise_utterance(log_mel(samples, n_mels=self.n_mels, hop=self.hop)))

    def forward(self, feats: torch.Tensor, num_frames: int, fps: float) -> torch.Tensor:
        h = self.inp(feats)
        for block in self.blocks:
            h = block(h)
        h = self.out(self.drop(h))
        return sample_at_frames(h, self.feature_rate, fps, num_frames)
