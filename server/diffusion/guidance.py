"""Classifier-free guidance over the audio condition, as a small wrapper around the denoiser."""

from __future__ import annotations

import torch


def guided_x0(model, x_t, t, audio, known, mask, guidance: float):
    """x0 = uncond + g * (cond - uncond); g = 1 is the plain conditional model (one pass)."""
    b = x_t.shape[0]
    if guidance == 1.0:
        return model(x_t, t, audio, known, mask)
    keep = torch.cat([torch.ones(b, dtype=torch.bool), torch.zeros(b, dtype=torch.bool)])
    out = model(torch.cat([x_t, x_t]), torch.cat([t, t]), torch.cat([audio, audio]),
                torch.cat([known, known]), torch.cat([mask, mask]), audio_keep=keep)
    cond, uncond = out[:b], out[b:]
    return uncond + guidance * (cond - uncond)
