"""The audio encoder interface and the time resampling both encoders share."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class AudioEncoder(nn.Module):
    """Audio -> one vector per output frame. Subclasses set ``out_dim`` and ``feature_rate``."""

    out_dim: int
    feature_rate: float  # frames per second of the learned part's output, before sampling at the fps
    receptive_radius: int = 0  # in feature frames: how far a feature's influence reaches

    @property
    def input_rate(self) -> float:
        """Frames per second of ``features()`` (what training crops): the same as feature_rate
        unless the learned part changes the rate (a strided first layer)."""
        return getattr(self, "_input_rate", self.feature_rate)

    def features(self, samples: np.ndarray) -> torch.Tensor:  # (C, T_feat)
        raise NotImplementedError

    def config(self) -> dict:
        raise NotImplementedError


def sample_at_frames(x: torch.Tensor, src_rate: float, dst_rate: float, num_frames: int,
                     src_offset: float = 0.0) -> torch.Tensor:
    """Linearly interpolate (B, C, T_src) sampled at src_rate to num_frames at dst_rate.

    Output frame t is at time t / dst_rate; source frame j is at time (j + src_offset) / src_rate.
    Times outside the source hold the edge value.
    """
    t_src = x.shape[-1]
    pos = torch.arange(num_frames, dtype=torch.float64, device=x.device) * (src_rate / dst_rate) - src_offset
    pos = pos.clamp(0, max(t_src - 1, 0))
    lo = pos.floor().long()
    hi = (lo + 1).clamp(max=t_src - 1)
    w = (pos - lo.double()).to(x.dtype)
    return x[..., lo] * (1 - w) + x[..., hi] * w
