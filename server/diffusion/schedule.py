"""Noise schedule: the cosine alpha-bar schedule of Nichol & Dhariwal, as plain functions."""

from __future__ import annotations

import math

import torch

TRAIN_STEPS = 1000


def alpha_bar(num_steps: int = TRAIN_STEPS, s: float = 0.008) -> torch.Tensor:
    """alpha_bar[t] for t = 0..num_steps-1 (t = 0 nearly clean, t = num_steps-1 nearly pure noise)."""
    t = torch.arange(num_steps + 1, dtype=torch.float64) / num_steps
    f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    ab = (f / f[0])[1:]
    return ab.clamp(1e-5, 1.0).float()


def add_noise(x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """Forward process q(x_t | x0)."""
    a = ab.to(x0.device)[t].view(-1, *([1] * (x0.dim() - 1)))
    return a.sqrt() * x0 + (1 - a).sqrt() * noise
