"""Long inputs: a model callable evaluated in windows with halos of the denoiser's receptive radius.

Every layer of the denoiser is a convolution or per-frame, so a frame's output depends only on
inputs within its receptive radius: windows with that halo give exactly the whole-sequence
result, with memory linear in length.
"""

from __future__ import annotations

import torch

from server.errors import GenerationCancelled


def windowed(model_fn_for, length: int, window: int, halo: int, cancel=None):
    """``model_fn(x_t, t) -> x0`` over ``length`` frames, evaluated ``window`` frames at a time.

    ``model_fn_for(frames: slice)`` gives the model callable whose conditions (audio, known
    values, style) are those frames; each window is evaluated with ``halo`` frames either side
    and keeps its middle. ``cancel`` (a threading.Event) is checked between windows."""
    if length <= window:
        return model_fn_for(slice(None))

    def fn(x_t, t):
        out = torch.empty_like(x_t)
        for a in range(0, length, window):
            if cancel is not None and cancel.is_set():
                raise GenerationCancelled("generation cancelled")
            b = min(length, a + window)
            lo, hi = max(0, a - halo), min(length, b + halo)
            y = model_fn_for(slice(lo, hi))(x_t[..., lo:hi], t)
            out[..., a:b] = y[..., a - lo:a - lo + (b - a)]
        return out

    return fn
