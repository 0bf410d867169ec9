"""A learned bilabial-closure detector: the encoder's audio vectors -> P(lips closed for p/b/m).

The English word recogniser tells the sampler where p, b and m are, but only in English and at
about 0.25 s per second of audio. This small head on the model's own audio encoder is trained
with the denoiser (on every language of the corpus) to say, per frame, whether the teacher
closed the lips for a bilabial there. Its probabilities become the same closure envelope the
recogniser's phones give (server/diffusion/closure.py), so lip-closure guidance works in any
language from the model alone.

Causal structure matches the denoiser's: convolutions only, so long inputs can be windowed.
"""

from __future__ import annotations

import torch
from torch import nn


class ClosureDetector(nn.Module):
    def __init__(self, audio_dim: int, hidden: int = 64, dilations: tuple = (1, 2, 4)):
        super().__init__()
        self.audio_dim, self.hidden, self.dilations = audio_dim, hidden, tuple(dilations)
        layers: list[nn.Module] = [nn.Conv1d(audio_dim, hidden, 1), nn.SiLU()]
        for d in self.dilations:
            layers += [nn.Conv1d(hidden, hidden, 3, padding=d, dilation=d), nn.SiLU()]
        layers.append(nn.Conv1d(hidden, 1, 1))
        self.net = nn.Sequential(*layers)
        self.receptive_radius = sum(self.dilations)

    def config(self) -> dict:
        return {"hidden": self.hidden, "dilations": list(self.dilations)}

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """audio (B, D, T) encoder vectors at the model's frame rate -> logits (B, T)."""
        return self.net(audio)[:, 0]
