"""DDIM sampling for an x0-predicting model, diffusers-style (set_timesteps, then step()): a thin
stateful face over the pure functions of server/diffusion/sample.py, which the engine uses."""

from __future__ import annotations

import torch

from server.diffusion.sample import SPACINGS, ddim_step, ddim_timesteps
from server.diffusion.schedule import TRAIN_STEPS, alpha_bar

__all__ = ["DDIMSampler", "SPACINGS", "timesteps_for"]


def timesteps_for(num_steps: int, train_steps: int = TRAIN_STEPS, spacing: str = "linspace") -> torch.Tensor:
    """``ddim_timesteps`` as a tensor."""
    return torch.tensor(ddim_timesteps(num_steps, train_steps, spacing), dtype=torch.long)


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
        return ddim_step(x0_pred, t, x_t, prev_t, self.alpha_bar, self.eta, generator)
