"""Inpainting on the request side: the known values (pins, the kept frames and channels of an
edit), how the denoiser sees them, and how they are met exactly in the output.

- ``known_at_output`` / ``pinned_at_output``: the known values and mask at the request's fps.
- ``known_at_model_rate``: the condition the denoiser sees at its own rate (a regenerated range
  ``bridge``d first, so kept frames never depend on the curve being replaced).
- ``inpainted(model_fn, known, mask, last_t)``: a model callable whose x0 prediction has the known
  values put back wherever it feeds a further sampler step.
- ``harmonize``: after resampling to the output rate, the known values are met exactly and
  joined without a seam.

(The random masks training draws are server/diffusion/masks.py.)

How ``harmonize`` joins: after sampling, the model's curves are close to the pins and to the kept frames of an edit
but not equal. Overwriting only the known frames would leave a step at each. Instead the
residual (known - model) at each known frame is carried into the neighbouring generated
frames and faded out over ``width`` frames with cubic Hermite weights, matching value and,
where two or more known frames are adjacent (the kept side of a regenerated range), slope
too. Known frames end up exactly equal to their values; the generated frames near them
continue the known curve's value and velocity and fade into the model's own motion.

Where the known run ends in a pin (an animator's key rather than kept animation), the slope
carried past it is the monotone (Fritsch-Carlson) blend of the known slope and the model's own
slope there: zero when they disagree in sign, so a pinned extreme is met with a flat tangent and
never overshot (the steep rise into a key is not continued past it), as Blender's auto-clamped
handles treat a key that is an extreme. Likewise a pin that the joined curve rises to and falls
away from within the seam width (a peak; or a trough) stays the extreme there: the generated
frames around it are held at most (least) at the pinned value, so the model's own peak a frame
beside the pin does not overshoot the pose the animator set.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from addon.core import arkit
from server.timebase import resample_curves

if TYPE_CHECKING:
    from server.request import GenerationRequest

SEAM_SECONDS = 0.25  # how far the residual at pins and kept edges fades into generated frames


# --- the known values of a request ---------------------------------------------------------------


def regenerated_columns(req: GenerationRequest) -> np.ndarray:
    """The channel indices an edit regenerates (all 52 unless ``regenerate_channels`` says)."""
    if req.regenerate_channels is None:
        return np.arange(arkit.NUM_CHANNELS)
    return np.array(sorted(arkit.INDEX[arkit.canonical_name(c)] for c in req.regenerate_channels), dtype=int)


def pinned_at_output(req: GenerationRequest, t_out: int) -> np.ndarray:
    """(T, 52) bool: the frames the request's keys pin (not the kept frames of an edit)."""
    pinned = np.zeros((t_out, arkit.NUM_CHANNELS), bool)
    for key in req.keys:
        pinned[key.frame, arkit.INDEX[arkit.canonical_name(str(key.channel))]] = True
    return pinned


def known_at_output(req: GenerationRequest, t_out: int) -> tuple[np.ndarray, np.ndarray]:
    """(T, 52) known values and (T, 52) bool mask at the request's fps: an edit's kept frames and
    channels, then the keys."""
    known = np.zeros((t_out, arkit.NUM_CHANNELS), np.float32)
    mask = np.zeros((t_out, arkit.NUM_CHANNELS), bool)
    if req.existing is not None:
        start, end = req.regenerate
        known[:] = np.clip(np.asarray(req.existing, np.float32), 0, 1)
        mask[:] = True
        mask[start:end + 1, regenerated_columns(req)] = False
    for key in req.keys:
        c = arkit.INDEX[arkit.canonical_name(str(key.channel))]
        known[key.frame, c] = key.value
        mask[key.frame, c] = True
    return known, mask


def bridge(curves: np.ndarray, start: int, end: int, columns: np.ndarray) -> np.ndarray:
    """``curves`` with rows start..end of ``columns`` replaced by the straight line between the
    kept rows either side. Resampling to the model's rate interpolates across the range's edges;
    bridged, the kept frames there depend only on kept values, never on the curve being replaced
    (so the same kept animation gives the same request, whatever the range held before)."""
    out = curves.copy()
    T = len(curves)
    before = curves[start - 1, columns] if start > 0 else None
    after = curves[end + 1, columns] if end + 1 < T else None
    if before is None and after is None:
        return out
    before = after if before is None else before
    after = before if after is None else after
    u = (np.arange(start, end + 1) - (start - 1)) / (end + 2 - start)
    out[start:end + 1, columns] = before[None] + u[:, None] * (after - before)[None]
    return out


def known_at_model_rate(req: GenerationRequest, known_out: np.ndarray, model_fps: float,
                        t_model: int) -> tuple[np.ndarray, np.ndarray]:
    """The condition the denoiser sees, at its own frame rate: (T, 52) known values and (T, 52)
    float mask (1 = known)."""
    known = np.zeros((t_model, arkit.NUM_CHANNELS), np.float32)
    mask = np.zeros((t_model, arkit.NUM_CHANNELS), np.float32)
    if req.existing is not None:
        start, end = req.regenerate
        columns = regenerated_columns(req)
        known[:] = resample_curves(bridge(known_out, start, end, columns), req.fps, model_fps, t_model)
        times = np.arange(t_model) / model_fps
        # A model frame is kept if it lies outside the regenerated span (by half an output frame).
        outside = (times < (start - 0.5) / req.fps) | (times > (end + 0.5) / req.fps)
        mask[:] = 1.0
        mask[np.ix_(~outside, columns)] = 0.0
    for key in req.keys:
        c = arkit.INDEX[arkit.canonical_name(str(key.channel))]
        f = min(t_model - 1, int(round(key.frame / req.fps * model_fps)))
        known[f, c] = key.value
        mask[f, c] = 1.0
    return known, mask


# --- the model callable ----------------------------------------------------------------------------


def inpainted(model_fn, known, mask, last_t: int):
    """``model_fn(x_t, t) -> x0`` with the known values put back (``known``, ``mask``: (N, 52, T)
    in model space, mask 1 = known) in every prediction that feeds a further step. The prediction
    at ``last_t``, the sampler's last timestep, is the result and is returned as the model made it:
    ``harmonize`` measures the residual at the known frames there and spreads it into their
    neighbours, so the join has no seam."""

    def fn(x_t, t):
        x0 = model_fn(x_t, t)
        if int(t.flatten()[0]) == last_t:
            return x0
        return mask * known + (1 - mask) * x0

    return fn


# --- harmonize: known values met exactly, without a seam -----------------------------------------


def _h0(u):  # 1 at 0, 0 at 1, zero slope at both ends
    u = np.clip(u, 0.0, 1.0)
    return (1 - u) ** 2 * (1 + 2 * u)


def _h1(u):  # 0 at both ends, slope 1 at 0
    u = np.clip(u, 0.0, 1.0)
    return u * (1 - u) ** 2


def _nearest_known(mask: np.ndarray):
    """Per frame, the index of the nearest known frame to the left and to the right (-1 if none)."""
    T = len(mask)
    idx = np.arange(T)
    left = np.where(mask, idx, -1)
    left = np.maximum.accumulate(left)
    right = np.where(mask, idx, T)
    right = np.minimum.accumulate(right[::-1])[::-1]
    right[right == T] = -1
    return left, right


def monotone_slope(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Fritsch-Carlson: the harmonic mean of two slopes of one sign, else 0."""
    same = a * b > 0
    return np.where(same, 2.0 * a * b / np.where(same, a + b, 1.0), 0.0)


def harmonize(curves: np.ndarray, known: np.ndarray, mask: np.ndarray, width: float,
              pinned: np.ndarray | None = None) -> np.ndarray:
    """curves, known: (T, C); mask: (T, C) bool; pinned: (T, C) bool, the known frames that are
    pins (default: none). Returns curves with known values met exactly."""
    out = curves.astype(np.float64).copy()
    T, C = curves.shape
    if not mask.any():
        return curves.astype(np.float32)
    width = max(float(width), 1.0)
    frames = np.arange(T)
    for c in range(C):
        m = mask[:, c].astype(bool)
        if not m.any():
            continue
        resid = np.where(m, known[:, c] - curves[:, c], 0.0)
        # Slope residual where a known frame has a known neighbour on the side away from the gap.
        k, y = known[:, c], curves[:, c]
        slope_left = np.zeros(T)   # used by frames to the right of a known run's end
        slope_right = np.zeros(T)  # used by frames to the left of a known run's start
        both_prev = m & np.roll(m, 1)
        both_prev[0] = False
        slope_left[both_prev] = ((k - np.roll(k, 1)) - (y - np.roll(y, 1)))[both_prev]
        both_next = m & np.roll(m, -1)
        both_next[-1] = False
        slope_right[both_next] = ((np.roll(k, -1) - k) - (np.roll(y, -1) - y))[both_next]
        if pinned is not None:
            # A run ending (starting) in a pin: carry the monotone slope, relative to the model's
            # own slope on the free side.
            pin = pinned[:, c].astype(bool)
            free_after = np.zeros(T, bool)
            free_after[:-1] = ~m[1:]
            free_before = np.zeros(T, bool)
            free_before[1:] = ~m[:-1]
            model_after = np.roll(y, -1) - y   # y[e+1] - y[e]
            model_before = y - np.roll(y, 1)   # y[s] - y[s-1]
            end = both_prev & pin & free_after
            slope_left[end] = (monotone_slope(k - np.roll(k, 1), model_after) - model_after)[end]
            start = both_next & pin & free_before
            slope_right[start] = (monotone_slope(np.roll(k, -1) - k, model_before) - model_before)[start]

        left, right = _nearest_known(m)
        has_l, has_r = left >= 0, right >= 0
        dl = np.where(has_l, frames - left, 0) / width
        dr = np.where(has_r, right - frames, 0) / width
        li, ri = np.clip(left, 0, T - 1), np.clip(right, 0, T - 1)
        w_l = np.where(has_l, _h0(dl), 0.0)
        w_r = np.where(has_r, _h0(dr), 0.0)
        corr = (w_l * resid[li] + w_r * resid[ri]
                + np.where(has_l, _h1(dl), 0.0) * width * slope_left[li]
                - np.where(has_r, _h1(dr), 0.0) * width * slope_right[ri])
        norm = np.maximum(1.0, w_l + w_r)
        free = ~m
        out[free, c] = np.clip(out[free, c] + corr[free] / norm[free], 0.0, 1.0)
        out[m, c] = known[m, c]
        if pinned is not None:
            _keep_pinned_extremes(out[:, c], np.flatnonzero(pinned[:, c]), free, int(np.ceil(width)))
    return out.astype(np.float32)


def _keep_pinned_extremes(curve: np.ndarray, pins: np.ndarray, free: np.ndarray, reach: int) -> None:
    """In place: no free frame within ``reach`` of a pinned peak (trough) goes above (below) it."""
    T = len(curve)
    for p in pins:
        v = curve[p]
        lo, hi = max(0, p - reach), min(T - 1, p + reach)
        window = slice(lo, hi + 1)
        near = free[window]
        if v >= curve[lo] and v >= curve[hi]:
            curve[window] = np.where(near, np.minimum(curve[window], v), curve[window])
        elif v <= curve[lo] and v <= curve[hi]:
            curve[window] = np.where(near, np.maximum(curve[window], v), curve[window])
