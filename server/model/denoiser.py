"""The denoiser: a lightweight dilated 1D-conv network over (52 x frames) curve sequences.

Inputs per frame: the noisy curves x_t, the inpainting condition (known values and their
frame x channel mask) and the audio vector; the diffusion step enters through FiLM. It
predicts the clean sequence x0 (so known values can be imposed exactly, MDM-style).

Every layer is a convolution or per-frame, never a normalisation or attention over time, so
the output at a frame depends only on inputs within ``receptive_radius`` frames. That is what
lets the engine evaluate arbitrarily long sequences in windows with halos and get exactly the
whole-sequence result: memory is linear in length and windows have no seams.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from addon.core.arkit import NUM_CHANNELS


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class FrameNorm(nn.Module):
    """LayerNorm over channels, separately at each frame (no statistics across time)."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x):
        return self.norm(x.transpose(1, 2)).transpose(1, 2)


class DenoiserBlock(nn.Module):
    def __init__(self, channels: int, dilation: int, emb_dim: int, kernel: int = 3, dropout: float = 0.0):
        super().__init__()
        self.norm = FrameNorm(channels)
        self.film = nn.Linear(emb_dim, 2 * channels)
        self.conv = nn.Conv1d(channels, 2 * channels, kernel, padding=dilation * (kernel // 2), dilation=dilation)
        self.out = nn.Conv1d(channels, channels, 1)
        self.drop = nn.Dropout(dropout)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x, emb):
        scale, shift = self.film(emb)[:, :, None].chunk(2, dim=1)
        h = self.norm(x) * (1 + scale) + shift
        a, b = self.conv(h).chunk(2, dim=1)
        h = torch.tanh(a) * torch.sigmoid(b)  # gated activation (WaveNet): cheap and expressive
        return x + self.out(self.drop(h))


class CurveDenoiser(nn.Module):
    def __init__(self, audio_dim: int = 128, channels: int = 256,
                 dilations: tuple = (1, 2, 4, 8, 16, 1, 2, 4, 8, 16), emb_dim: int = 256,
                 dropout: float = 0.0, num_curves: int = NUM_CHANNELS):
        super().__init__()
        self.audio_dim, self.channels, self.emb_dim = audio_dim, channels, emb_dim
        self.dilations = tuple(dilations)
        self.num_curves = num_curves
        self.inp = nn.Conv1d(3 * num_curves + audio_dim, channels, 3, padding=1)
        self.step_mlp = nn.Sequential(nn.Linear(emb_dim, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.blocks = nn.ModuleList(DenoiserBlock(channels, d, emb_dim, dropout=dropout) for d in self.dilations)
        self.out_norm = FrameNorm(channels)
        self.out = nn.Conv1d(channels, num_curves, 3, padding=1)
        # Learned "no audio" vector: classifier-free guidance drops the audio to this.
        self.null_audio = nn.Parameter(torch.zeros(audio_dim))
        self.receptive_radius = 1 + sum(self.dilations) + 1

    def config(self) -> dict:
        return {"audio_dim": self.audio_dim, "channels": self.channels, "dilations": list(self.dilations),
                "emb_dim": self.emb_dim, "num_curves": self.num_curves}

    def forward(self, x_t, t, audio, known, mask, audio_keep=None):
        """x_t, known, mask: (B, 52, T); audio: (B, D, T); t: (B,) diffusion steps.

        ``audio_keep`` (B,) bool: False replaces that item's audio with the null vector
        (classifier-free guidance).
        """
        if audio_keep is not None:
            keep = audio_keep.to(audio.dtype)[:, None, None]
            audio = audio * keep + self.null_audio[None, :, None] * (1 - keep)
        h = self.inp(torch.cat([x_t, known * mask, mask, audio], dim=1))
        emb = self.step_mlp(timestep_embedding(t, self.emb_dim))
        for block in self.blocks:
            h = block(h, emb)
        return self.out(torch.nn.functional.silu(self.out_norm(h)))
