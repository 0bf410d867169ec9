"""The denoiser: a lightweight dilated 1D-conv network over (52 x frames) curve sequences.

Inputs per frame: the noisy curves x_t, the inpainting condition (known values and their
frame x channel mask), the audio vector and the performance style (server/style.py, with a flag
saying whether one is given); the diffusion step enters through FiLM. It predicts the clean
sequence x0 (so known values can be imposed exactly, MDM-style).

The style is a per-frame input, not a global one, because training crops span utterances drawn
with different styles (and a style may change along a take); it enters every block as a bias,
zero-initialised, so a model trained without style is the same function with style added.

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
                 dropout: float = 0.0, num_curves: int = NUM_CHANNELS, style_dim: int = 0):
        super().__init__()
        self.audio_dim, self.channels, self.emb_dim = audio_dim, channels, emb_dim
        self.style_dim = int(style_dim)
        self.dilations = tuple(dilations)
        self.num_curves = num_curves
        self.inp = nn.Conv1d(3 * num_curves + audio_dim, channels, 3, padding=1)
        self.step_mlp = nn.Sequential(nn.Linear(emb_dim, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.blocks = nn.ModuleList(DenoiserBlock(channels, d, emb_dim, dropout=dropout) for d in self.dilations)
        self.out_norm = FrameNorm(channels)
        self.out = nn.Conv1d(channels, num_curves, 3, padding=1)
        # Learned "no audio" vector: classifier-free guidance drops the audio to this.
        self.null_audio = nn.Parameter(torch.zeros(audio_dim))
        if self.style_dim:
            # Style (plus its "given" flag) -> a per-frame embedding -> one bias per block.
            self.style_in = nn.Sequential(nn.Conv1d(self.style_dim + 1, emb_dim, 1), nn.SiLU(),
                                          nn.Conv1d(emb_dim, emb_dim, 1), nn.SiLU())
            self.style_bias = nn.ModuleList(nn.Conv1d(emb_dim, channels, 1) for _ in self.dilations)
            for conv in self.style_bias:
                nn.init.zeros_(conv.weight)
                nn.init.zeros_(conv.bias)
        self.receptive_radius = 1 + sum(self.dilations) + 1

    def config(self) -> dict:
        return {"audio_dim": self.audio_dim, "channels": self.channels, "dilations": list(self.dilations),
                "emb_dim": self.emb_dim, "num_curves": self.num_curves, "style_dim": self.style_dim}

    def forward(self, x_t, t, audio, known, mask, audio_keep=None, style=None, style_keep=None):
        """x_t, known, mask: (B, 52, T); audio: (B, D, T); t: (B,) diffusion steps.

        ``audio_keep`` (B,) bool: False replaces that item's audio with the null vector
        (classifier-free guidance). ``style``: (B, style_dim, T) or None (no style given: the
        model draws from everything it saw); ``style_keep`` (B,) bool: False drops that item's
        style (style guidance).
        """
        if audio_keep is not None:
            keep = audio_keep.to(audio.dtype)[:, None, None]
            audio = audio * keep + self.null_audio[None, :, None] * (1 - keep)
        h = self.inp(torch.cat([x_t, known * mask, mask, audio], dim=1))
        emb = self.step_mlp(timestep_embedding(t, self.emb_dim))
        style_emb = self._style_embedding(style, style_keep, x_t) if self.style_dim else None
        for k, block in enumerate(self.blocks):
            if style_emb is not None:
                h = h + self.style_bias[k](style_emb)
            h = block(h, emb)
        return self.out(torch.nn.functional.silu(self.out_norm(h)))

    def _style_embedding(self, style, style_keep, x_t):
        b, _, T = x_t.shape
        if style is None:
            given = torch.zeros(b, 1, T, dtype=x_t.dtype, device=x_t.device)
            style = torch.zeros(b, self.style_dim, T, dtype=x_t.dtype, device=x_t.device)
        else:
            if style.shape[0] != b or style.shape[1] != self.style_dim or style.shape[2] != T:
                raise ValueError(f"style must be (B, {self.style_dim}, T) = ({b}, {self.style_dim}, {T}), "
                                 f"got {tuple(style.shape)}")
            keep = torch.ones(b, dtype=x_t.dtype, device=x_t.device) if style_keep is None \
                else style_keep.to(x_t.dtype)
            style = style.to(x_t.dtype) * keep[:, None, None]
            given = keep[:, None, None].expand(b, 1, T)
        return self.style_in(torch.cat([style, given], dim=1))
