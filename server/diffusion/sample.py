"""The sampler: DDIM for an x0-predicting model, a small pure function over a model callable
(k-diffusion's way). Guidance, windows, lip closure and inpainting are wrappers that build the
callable (server/diffusion/guidance.py, windows.py, closure.py, inpainting.py); the sampler knows
none of them.

    model_fn(x_t, t) -> x0      x_t: (N, C, T) noisy sample, t: (N,) long timesteps
"""

from __future__ import annotations

import torch

from server.errors import GenerationCancelled


SPACINGS = ("linspace", "trailing")


def ddim_timesteps(num_steps: int, train_steps: int, spacing: str = "linspace") -> list[int]:
    """The DDIM steps, noisiest first, without repeats.

    "linspace" (the default): evenly from the noisiest step (train_steps - 1) down to 0, the last
    pass at t = 0. "trailing" (diffusers' name; Lin et al. 2024): t = T - j T/n - 1, the last pass
    at T/n - 1 stepping straight to the clean sample. Trailing grids nest (the n-step grid is every
    other step of the 2n-step one), which progressive distillation needs
    (server/training/distill.py); distilled checkpoints name it in ``config["distilled"]["spacing"]``.
    """
    if num_steps < 1:
        raise ValueError("steps must be at least 1")
    num_steps = min(num_steps, train_steps)
    if spacing == "linspace":
        ts = torch.linspace(train_steps - 1, 0, num_steps).round().long()
    elif spacing == "trailing":
        ts = (train_steps - torch.arange(num_steps, dtype=torch.float64) * train_steps / num_steps).round().long() - 1
    else:
        raise ValueError(f"spacing {spacing!r}: expected one of {', '.join(SPACINGS)}")
    return torch.unique_consecutive(ts).tolist()


def ddim_step(x0_pred: torch.Tensor, t: int, x_t: torch.Tensor, prev_t: int | None, alpha_bar: torch.Tensor,
              eta: float = 0.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """From x_t and the predicted clean sample, the sample at prev_t (None: the end, x0 itself)."""
    if prev_t is None or prev_t < 0:
        return x0_pred
    ab_t, ab_prev = alpha_bar[t], alpha_bar[prev_t]
    eps = (x_t - ab_t.sqrt() * x0_pred) / (1 - ab_t).sqrt()
    sigma = eta * ((1 - ab_prev) / (1 - ab_t) * (1 - ab_t / ab_prev)).clamp(min=0).sqrt()
    direction = (1 - ab_prev - sigma**2).clamp(min=0).sqrt() * eps
    x_prev = ab_prev.sqrt() * x0_pred + direction
    if eta > 0:
        x_prev = x_prev + sigma * torch.randn(x_t.shape, generator=generator, dtype=x_t.dtype)
    return x_prev


def sample_ddim(model_fn, x_T: torch.Tensor, timesteps: list[int], alpha_bar: torch.Tensor,
                callback=None, cancel=None) -> torch.Tensor:
    """Deterministic DDIM (eta 0) from the noise ``x_T`` over ``timesteps`` (noisiest first, as
    ``ddim_timesteps`` gives them); returns the last step's x0 prediction.

    ``callback(i, t, x, x0)`` after each step (x: the sample after it, x0: the prediction it used);
    ``cancel``: a threading.Event, checked before each step (GenerationCancelled when set)."""
    x = x_T
    for i, t in enumerate(timesteps):
        if cancel is not None and cancel.is_set():
            raise GenerationCancelled("generation cancelled")
        x0 = model_fn(x, torch.full((x.shape[0],), t, dtype=torch.long, device=x.device))
        prev = timesteps[i + 1] if i + 1 < len(timesteps) else None
        x = ddim_step(x0, t, x, prev, alpha_bar)
        if callback is not None:
            callback(i, t, x, x0)
    return x
