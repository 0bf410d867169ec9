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
    input = "encoder"

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


class AcousticClosureDetector(nn.Module):
    """P(lips closed for p/b/m) straight from the encoder's fixed log-mel (its ``features()``),
    with its own convolution stack, trained apart from the denoiser (server/training/detector.py).

    Why apart: the head above sits on vectors the encoder learns for the denoiser, at the model's
    30 fps, where a 40 ms closure is one frame; trained jointly it reached 0.77 of real English
    bilabials. This one hears the log-mel at 100 Hz (a stride-2 stack at 50 Hz, +-0.4 s of
    context) and is trained only to find closures, with its own spectral augmentation, so its
    training can be longer and its data wider than the denoiser's. Per model frame the engine
    takes the maximum probability over the frame's interval (``at_frames``), so a closure shorter
    than a frame still closes it.
    """

    input = "features"

    def __init__(self, n_mels: int = 80, hidden: int = 96, dilations: tuple = (1, 2, 4, 8, 16, 1, 2, 4),
                 stride: int = 2, mel_rate: float = 100.0, envelope: tuple = (0.35, 0.6), dropout: float = 0.0):
        super().__init__()
        self.n_mels, self.hidden, self.dilations, self.stride = n_mels, hidden, tuple(dilations), stride
        self.dropout = float(dropout)
        # Probability -> closure envelope: 0 below envelope[0], 1 from envelope[1]; chosen per
        # trained detector on held-out synthetic voices (docs/TRAINING.md), kept with its weights.
        self.envelope = (float(envelope[0]), float(envelope[1]))
        self.mel_rate = float(mel_rate)
        self.rate = self.mel_rate / stride
        self.inp = nn.Conv1d(n_mels, hidden, 2 * stride + 1, stride=stride, padding=stride)
        self.blocks = nn.ModuleList(_Residual(hidden, d, self.dropout) for d in self.dilations)
        self.out = nn.Conv1d(hidden, 1, 1)
        self.receptive_radius = stride * (2 + sum(self.dilations))  # in mel frames

    def config(self) -> dict:
        return {"input": self.input, "n_mels": self.n_mels, "hidden": self.hidden,
                "dilations": list(self.dilations), "stride": self.stride, "mel_rate": self.mel_rate,
                "envelope": list(self.envelope), "dropout": self.dropout}

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        """feats (B, n_mels, T_mel) normalised log-mel -> logits (B, T_mel / stride) at ``rate``."""
        h = self.inp(feats)
        for block in self.blocks:
            h = block(h)
        return self.out(h)[:, 0]

    def at_frames(self, probability: torch.Tensor, num_frames: int, fps: float) -> torch.Tensor:
        """(B, T_det) probabilities at ``rate`` -> (B, num_frames): each frame the maximum over
        its interval [(t - 0.5) / fps, (t + 0.5) / fps)."""
        times = torch.arange(probability.shape[-1], dtype=torch.float64) / self.rate  # bin k is centred at k / rate
        frame_of = torch.floor(times * fps + 0.5).long().clamp(0, num_frames - 1).to(probability.device)
        out = torch.zeros(probability.shape[0], num_frames, dtype=probability.dtype, device=probability.device)
        return out.scatter_reduce(1, frame_of[None].expand(probability.shape[0], -1), probability, "amax")


class _Residual(nn.Module):
    def __init__(self, channels: int, dilation: int, dropout: float = 0.0):
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, 3, padding=dilation, dilation=dilation)
        self.mix = nn.Conv1d(channels, channels, 1)
        self.act = nn.SiLU()
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        return x + self.mix(self.drop(self.act(self.conv(self.act(x)))))


def build_closure_detector(config: dict | None, audio_dim: int) -> nn.Module | None:
    """The detector a checkpoint's ``closure_detector`` config names: the head on the encoder's
    vectors (no ``input`` key, the older kind) or the acoustic one (``input = "features"``)."""
    if not config:
        return None
    config = dict(config)
    kind = config.pop("input", "encoder")
    if kind == "features":
        return AcousticClosureDetector(**config)
    if kind == "encoder":
        return ClosureDetector(audio_dim, **config)
    raise ValueError(f"closure_detector input {kind!r}: expected 'encoder' or 'features'")
