"""DDIM sampling for an x0-predicting model (diffusers-style: set_timesteps, then step()).

Two step spacings: "linspace" (the default: evenly from the noisiest step down to 0, the last
pass at t = 0) and "trailing" (diffusers' name; Lin et al. 2024: t = T - j T/n - 1, the last
pass at T/n - 1 stepping straight to the clean sample). Trailing grids nest (the n-step grid is
every other step of the 2n-step one), which progressive distillation needs
(server/training/distill.py); distilled checkpoints name it in ``config["distilled"]["spacing"]``.
"""

from __future__ import annotations

import torch

from server.diffusion.schedule import TRAIN_STEPS, alpha_bar

SPACINGS = ("linspace", "trailing")


def timesteps_for(num_steps: int, train_steps: int = TRAIN_STEPS, spacing: str = "linspace") -> torch.Tensor:
    """The DDIM steps, noisiest first."""
    if num_steps < 1:
        raise ValueError("steps must be at least 1")
    num_steps = min(num_steps, train_steps)
    if spacing == "linspace":
        ts = torch.linspace(train_steps - 1, 0, num_steps).round().long()
    elif spacing == "trailing":
        ts = (train_steps - torch.arange(num_steps, dtype=torch.float64) * train_steps / num_steps).round().long() - 1
    else:
        raise ValueError(f"spacing {spacing!r}: expected one of {', '.join(SPACINGS)}")
    return torch.unique_consecutive(ts)


class DDIMSampler:
    def __init__(self, train_steps: int = TRAIN_STEPS, eta: float = 0.0, spacing: str = "linspace"):
        self.alpha_bar = alpha_bar(train_steps)
        self.train_steps = train_steps
        self.eta = eta
        self.spacing = spacing
        self.timesteps = torch.tensor([], dtype=torch.long)

    def set_timesteps(self, num_steps: int) -> torch.Tensor:
        self.timesteps = timesteps_for(num_steps, self.train_steps, self.spacing)
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
