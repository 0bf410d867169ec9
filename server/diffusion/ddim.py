"""DDIM sampling for an x0-predicting model (diffusers-style: set_timesteps, then step())."""

from __future__ import annotations

import torch

from server.diffusion.schedule import TRAIN_STEPS, alpha_bar


class DDIMSampler:
    def __init__(self, train_steps: int = TRAIN_STEPS, eta: float = 0.0):
        self.alpha_bar = alpha_bar(train_steps)
        self.train_steps = train_steps
        self.eta = eta
        self.timesteps = torch.tensor([], dtype=torch.long)

    def set_timesteps(self, num_steps: int) -> torch.Tensor:
        """Evenly spaced steps from the noisiest down to 0."""
        if num_steps < 1:
            raise ValueError("steps must be at least 1")
        num_steps = min(num_steps, self.train_steps)
        ts = torch.linspace(self.train_steps - 1, 0, num_steps).round().long()
        self.timesteps = torch.unique_consecutive(ts)
        return self.timesteps

    def step(self, x0_pred: torch.Tensor, t: int, x_t: torch.Tensor, prev_t: int | None,
             generator: torch.Generator | None = None) -> torch.Tensor:
        """From x_t and the predicted clean sample, the sample at prev_t (None: the end, x0 itself)."""
        if prev_t is None or prev_t < 0:
            return x0_pred
        ab_t, ab_prev = self.alpha_bar[t], self.alpha_bar[prev_t]
        eps = (x_t - ab_t.sqrt() * x0_pred) / (1 - ab_t).sqrt()
        sigma = self.eta * ((1 - ab_prev) / (1 - ab_t) * (1 - ab_t / ab_prev)).clamp(min=0).sqrt()
        direction = (1 - ab_prev - sigma**2).clamp(min=0).sqrt() * eps
        x_prev = ab_prev.sqrt() * x0_pred + direction
        if self.eta > 0:
            x_prev = x_prev + sigma * torch.randn(x_t.shape, generator=generator, dtype=x_t.dtype)
        return x_prev
