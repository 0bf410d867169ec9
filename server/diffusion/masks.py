"""Inpainting masks: the random masks training sees, and the masks requests turn into.

A mask is a (52, T) float tensor, 1 where the value is known (pinned or kept) and 0 where
the model generates.
"""

from __future__ import annotations

import torch

from addon.core.arkit import INDEX, NUM_CHANNELS, SPEECH_CHANNELS

MASK_KINDS = ("none", "keyframes", "keyframe_channels", "span", "prefix", "suffix", "channels")
# How often training sees each kind: "none" most (plain generation), then the editing cases.
MASK_WEIGHTS = (0.35, 0.15, 0.1, 0.15, 0.08, 0.08, 0.09)


def random_mask(num_frames: int, generator: torch.Generator, kind: str | None = None) -> torch.Tensor:
    """One training mask of a random kind (or the given kind)."""
    g = generator
    if kind is None:
        i = torch.multinomial(torch.tensor(MASK_WEIGHTS), 1, generator=g).item()
        kind = MASK_KINDS[i]
    m = torch.zeros(NUM_CHANNELS, num_frames)
    T = num_frames

    def rand_int(lo, hi):  # inclusive lo, exclusive hi
        return int(torch.randint(lo, max(hi, lo + 1), (1,), generator=g).item())

    if kind == "keyframes":  # sparse full-pose keys (pin_pose)
        n = rand_int(1, max(2, T // 15))
        m[:, torch.randperm(T, generator=g)[:n]] = 1
    elif kind == "keyframe_channels":  # sparse keys on a few channels (animator-set keys)
        n = rand_int(1, max(2, T // 8))
        frames = torch.randint(0, T, (n,), generator=g)
        chans = torch.randint(0, NUM_CHANNELS, (n,), generator=g)
        m[chans, frames] = 1
    elif kind == "span":  # regenerate a range: everything outside it is known
        length = rand_int(max(2, T // 10), max(3, T * 3 // 5))
        start = rand_int(0, T - length)
        m[:] = 1
        m[:, start:start + length] = 0
    elif kind == "prefix":
        m[:, : rand_int(1, T // 2)] = 1
    elif kind == "suffix":
        m[:, T - rand_int(1, T // 2):] = 1
    elif kind == "channels":  # a channel subset known throughout (e.g. the upper face kept)
        p = float(torch.rand(1, generator=g).item())
        m[torch.rand(NUM_CHANNELS, generator=g) < p] = 1
    return m


def speech_channel_mask() -> torch.Tensor:
    """(52,) 1 on the channels speech drives."""
    m = torch.zeros(NUM_CHANNELS)
    m[[INDEX[c] for c in SPEECH_CHANNELS]] = 1
    return m
