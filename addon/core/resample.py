"""Frame-rate conversion and the add-on's frame semantics.

Frame semantics (shared by every operator): audio time 0 is the scene frame ``range_start``;
request frame k (0-based, at the scene fps) is scene frame ``range_start + k``. The scene fps is
``render.fps / render.fps_base`` and the add-on asks the sidecar for exactly that rate, so
``resample_frames`` is the identity in the normal case; it matters when a result or a curve
file comes at another rate.
"""

from __future__ import annotations

import math
from typing import Sequence


def scene_fps(fps: int | float, fps_base: float = 1.0) -> float:
    """Blender's effective frame rate (``render.fps / render.fps_base``)."""
    if fps_base <= 0 or fps <= 0:
        raise ValueError(f"frame rate must be positive, got fps={fps} fps_base={fps_base}")
    return float(fps) / float(fps_base)


def frame_count(range_start: int, range_end: int) -> int:
    """Frames in an inclusive scene range."""
    if range_end < range_start:
        raise ValueError(f"frame range end {range_end} is before its start {range_start}")
    return range_end - range_start + 1


def range_duration(range_start: int, range_end: int, fps: float) -> float:
    """Seconds of audio the inclusive range covers (each frame lasts 1/fps)."""
    return frame_count(range_start, range_end) / fps


def to_request_frame(scene_frame: float, range_start: int) -> float:
    return scene_frame - range_start


def to_scene_frame(request_frame: float, range_start: int) -> float:
    return request_frame + range_start


def resample_frames(
    frames: Sequence[Sequence[float]], src_fps: float, dst_fps: float, count: int | None = None
) -> list[list[float]]:
    """Rows sampled at ``src_fps`` -> rows at ``dst_fps`` (row t at time t / fps).

    Each column goes through ``resample_channel``. ``count`` defaults to
    ``round(len(frames) * dst_fps / src_fps)``.
    """
    if src_fps <= 0 or dst_fps <= 0:
        raise ValueError(f"fps must be positive, got {src_fps} -> {dst_fps}")
    n = len(frames)
    if count is None:
        count = int(round(n * dst_fps / src_fps))
    if n == 0 or count <= 0:
        return []
    if math.isclose(src_fps, dst_fps, rel_tol=0, abs_tol=1e-9) and count == n:
        return [list(map(float, row)) for row in frames]
    width = len(frames[0])
    columns = [[float(row[c]) for row in frames] for c in range(width)]
    out_cols = [resample_channel(col, src_fps, dst_fps, count) for col in columns]
    return [[out_cols[c][t] for c in range(width)] for t in range(count)]


def resample_channel(values: Sequence[float], src_fps: float, dst_fps: float, count: int) -> list[float]:
    """One channel from ``src_fps`` to ``dst_fps``.

    Upsampling interpolates linearly. Downsampling keeps short extremes: each output frame
    covers a window of source samples, and where the window holds a turning point (a brief
    lip closure shorter than an output frame, say) the output takes that extreme instead of
    an interpolated value that would smear it away.
    """
    n = len(values)
    ratio = src_fps / dst_fps
    out: list[float] = []
    for t in range(count):
        pos = t * ratio
        if pos >= n - 1:
            out.append(float(values[-1]))
            continue
        i = int(math.floor(pos))
        frac = pos - i
        linear = values[i] * (1.0 - frac) + values[i + 1] * frac
        if ratio > 1.0:
            lo = max(0, int(math.ceil(pos - ratio / 2)))
            hi = min(n - 1, int(math.floor(pos + ratio / 2)))
            extreme = _window_extreme(values, lo, hi, linear)
            if extreme is not None:
                linear = extreme
        out.append(float(linear))
    return out


def _window_extreme(values: Sequence[float], lo: int, hi: int, linear: float) -> float | None:
    """The turning point in values[lo..hi] furthest from ``linear``, if the window holds one."""
    best = None
    for j in range(max(lo, 1), min(hi, len(values) - 2) + 1):
        v, a, b = values[j], values[j - 1], values[j + 1]
        is_min = v <= a and v <= b and (v < a or v < b)
        is_max = v >= a and v >= b and (v > a or v > b)
        if (is_min or is_max) and (best is None or abs(v - linear) > abs(best - linear)):
            best = v
    return best
