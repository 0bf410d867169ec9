"""Frame-rate conversion of curve arrays (the model runs at its own rate; output at any fps)."""

from __future__ import annotations

import numpy as np


def num_frames(duration_s: float, fps: float) -> int:
    """Frames covering a clip: frame i at time i / fps, i < duration * fps (at least one)."""
    return max(1, int(np.ceil(duration_s * fps - 1e-6)))


def resample_curves(curves: np.ndarray, src_fps: float, dst_fps: float, dst_frames: int) -> np.ndarray:
    """(..., T_src, C) -> (..., dst_frames, C) by Catmull-Rom interpolation at times i / dst_fps.

    Catmull-Rom passes through every source sample, so a curve at the same rate is unchanged
    and a closure held over source frames is kept.
    """
    t_src = curves.shape[-2]
    if abs(src_fps - dst_fps) < 1e-9 and dst_frames == t_src:
        return curves.astype(np.float32, copy=True)
    pos = np.arange(dst_frames) * (src_fps / dst_fps)
    pos = np.clip(pos, 0, t_src - 1)
    i1 = np.floor(pos).astype(int)
    u = (pos - i1)[:, None]
    i0, i2, i3 = np.clip(i1 - 1, 0, t_src - 1), np.clip(i1 + 1, 0, t_src - 1), np.clip(i1 + 2, 0, t_src - 1)
    p0, p1, p2, p3 = (curves[..., i, :] for i in (i0, i1, i2, i3))
    out = 0.5 * ((2 * p1) + (-p0 + p2) * u + (2 * p0 - 5 * p1 + 4 * p2 - p3) * u**2
                 + (-p0 + 3 * p1 - 3 * p2 + p3) * u**3)
    return np.clip(out, 0.0, 1.0).astype(np.float32)
