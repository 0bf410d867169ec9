"""Classifier-free guidance over the audio and the style conditions, as a small wrapper around
the denoiser.

    x0 = u + g_audio (c - u) + (g_style - 1) (c - s)

where c is the model with audio and style, u without audio (style kept) and s without style
(audio kept). g_audio = 1 and g_style = 1 is the plain conditional model (one pass); audio
guidance alone costs two passes, style guidance a third. Keeping the style in the audio's
unconditional branch means audio guidance strengthens the speech and not the style.
"""

from __future__ import annotations

import torch


def guided_x0(model, x_t, t, audio, known, mask, guidance: float, style=None, style_guidance: float = 1.0):
    b = x_t.shape[0]
    style_on = style is not None and style_guidance != 1.0
    if guidance == 1.0 and not style_on:
        return model(x_t, t, audio, known, mask, style=style) if style is not None else model(x_t, t, audio, known, mask)
    ones, zeros = torch.ones(b, dtype=torch.bool), torch.zeros(b, dtype=torch.bool)
    audio_keep, style_keep = [ones], [ones]
    if guidance != 1.0:
        audio_keep.append(zeros)
        style_keep.append(ones)
    if style_on:
        audio_keep.append(ones)
        style_keep.append(zeros)
    k = len(audio_keep)
    kwargs = {"audio_keep": torch.cat(audio_keep).to(x_t.device)}
    if style is not None:
        kwargs.update(style=torch.cat([style] * k), style_keep=torch.cat(style_keep).to(x_t.device))
    out = model(torch.cat([x_t] * k), torch.cat([t] * k), torch.cat([audio] * k),
                torch.cat([known] * k), torch.cat([mask] * k), **kwargs)
    parts = out.split(b)
    cond = parts[0]
    x0 = cond
    i = 1
    if guidance != 1.0:
        x0 = parts[i] + guidance * (cond - parts[i])
        i += 1
    if style_on:
        x0 = x0 + (style_guidance - 1.0) * (cond - parts[i])
    return x0


def guided(denoiser, audio, known, mask, guidance: float, style=None, style_guidance: float = 1.0):
    """``model_fn(x_t, t) -> x0``: the denoiser under these conditions (audio, known values and mask,
    style; each (N, C, T)) with guidance, its prediction clamped to the data's range [-1, 1]."""

    def fn(x_t, t):
        return guided_x0(denoiser, x_t, t, audio, known, mask, guidance, style, style_guidance).clamp(-1.0, 1.0)

    return fn
