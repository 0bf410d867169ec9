"""Lip-closure guidance: make each predicted clean sample close the lips where speech has p, b, m.

The denoiser alone hears most bilabials in real speech but, trained on synthetic voices, stops
short on many (the lips open 0.2-0.4 of the jaw gap on a fast "but"; docs/RESULTS.md). The
engine finds bilabials from the audio (server/speech/recognise.py), turns them into a per-frame
closure envelope (``closure_envelope``: 1 over each bilabial's frames, raised-cosine ramps into
the neighbours), and after every denoiser call projects the x0 prediction onto "lip opening at
most (1 - strength * envelope) times what it was" (``close_lips``). Because the projected x0
feeds the next DDIM step, the model re-plans the frames around each closure, so the closure
arrives and leaves the way the model moves rather than as a snap: guidance by projection, as
inpainting is guidance by replacement. Known values (pins, kept frames) are never touched.

Lip opening is the affine model of server.face.lip_opening (measured on Apple's ARKit
reference face). The projection is the weighted least-change one: it closes mainly with
mouthClose (ARKit's "lips together while the jaw is open"), a little with jawOpen and the lip
raisers/lowerers, and keeps mouthClose <= jawOpen as ARKit rigs expect.
"""

from __future__ import annotations

import numpy as np
import torch

from addon.core.arkit import INDEX, NUM_CHANNELS
from server.face.lip_opening import LIP_OPENING_NEUTRAL, gain_vector
from server.phones import BILABIALS, OPEN_VOWELS

RAMP_IN_S = 0.06     # the lips start closing before the stop (anticipation)
RAMP_OUT_S = 0.05
RAMP_SHARE = 0.5     # a ramp takes at most half of the neighbouring phone, so a short vowel still opens
_FINE_S = 0.002      # envelope grid before each frame takes the maximum over its interval

# How willing each channel is to move to close the lips (least-change weights).
CLOSING_WEIGHTS: dict[str, float] = {
    "mouthClose": 1.0,
    "jawOpen": 0.25,
    "mouthFunnel": 0.5,
    "mouthLowerDownLeft": 0.5, "mouthLowerDownRight": 0.5,
    "mouthUpperUpLeft": 0.5, "mouthUpperUpRight": 0.5,
    "mouthShrugUpper": 0.3,
    "mouthRollLower": 0.2, "mouthRollUpper": 0.2,
}
_ITERATIONS = 24


def closure_envelope(phones, num_frames: int, fps: float) -> np.ndarray:
    """(num_frames,) in [0, 1]: 1 on every frame whose interval overlaps a P/B/M, ramps around.

    ``phones``: contiguous ``(phone, start_s, end_s)``. A frame takes the envelope's maximum
    over its interval [(t - 0.5)/fps, (t + 0.5)/fps), so a 30 ms closure between two frame
    times still closes a frame.
    """
    duration = num_frames / fps
    times = np.arange(-0.5 / fps, duration + 0.5 / fps, _FINE_S)
    env = np.zeros(len(times))
    for k, (phone, start, end) in enumerate(phones):
        if phone not in BILABIALS:
            continue
        before = start - phones[k - 1][1] if k > 0 else RAMP_IN_S / RAMP_SHARE
        after = phones[k + 1][2] - end if k + 1 < len(phones) else RAMP_OUT_S / RAMP_SHARE
        r_in = max(min(RAMP_IN_S, RAMP_SHARE * before), _FINE_S)
        r_out = max(min(RAMP_OUT_S, RAMP_SHARE * after), _FINE_S)
        # Only the grid points the closure and its ramps reach: long audio has thousands of p/b/m.
        lo, hi = np.searchsorted(times, [start - r_in, end + r_out])
        t = times[lo:hi]
        rise = np.clip((t - (start - r_in)) / r_in, 0.0, 1.0)
        fall = np.clip(((end + r_out) - t) / r_out, 0.0, 1.0)
        env[lo:hi] = np.maximum(env[lo:hi], 0.5 - 0.5 * np.cos(np.pi * np.minimum(rise, fall)))
    frame_of = np.clip(np.floor(times * fps + 0.5).astype(int), 0, num_frames - 1)
    out = np.zeros(num_frames)
    np.maximum.at(out, frame_of, env)
    return out


# The closure detector's probability -> envelope: 0 below DETECTOR_LOW, 1 from DETECTOR_HIGH.
DETECTOR_LOW = 0.35
DETECTOR_HIGH = 0.6


def detector_envelope(probability: np.ndarray, low: float = DETECTOR_LOW, high: float = DETECTOR_HIGH) -> np.ndarray:
    """(T,) closure envelope from the model's closure detector (per-frame P(bilabial closure)),
    on the same scale as ``closure_envelope`` so the two can be combined by their maximum."""
    p = np.asarray(probability, dtype=np.float64)
    u = np.clip((p - low) / max(high - low, 1e-6), 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * u)


def _channel_vectors(device) -> tuple[torch.Tensor, torch.Tensor]:
    gains = torch.tensor(gain_vector(), dtype=torch.float32, device=device)
    weights = torch.zeros(NUM_CHANNELS, dtype=torch.float32, device=device)
    for name, w in CLOSING_WEIGHTS.items():
        weights[INDEX[name]] = w
    return gains, weights


def close_lips(x0: torch.Tensor, envelope: torch.Tensor, free: torch.Tensor, strength: float = 1.0) -> torch.Tensor:
    """Project x0 (N, 52, T) in model space [-1, 1] so the lip opening at frame t is at most
    (1 - strength * envelope[t]) of x0's own; only ``free`` (N, 52, T: 1 = may change) moves."""
    if strength <= 0 or float(envelope.max()) <= 0:
        return x0
    gains, weights = _channel_vectors(x0.device)
    g = gains[None, :, None]
    active = envelope > 0
    v = (x0[..., active] + 1) / 2
    free = free[..., active]
    jaw, close = INDEX["jawOpen"], INDEX["mouthClose"]
    opening = LIP_OPENING_NEUTRAL + torch.einsum("nct,c->nt", v, gains)
    target = (1 - strength * envelope[active].clamp(0, 1))[None] * opening.clamp(min=0)
    for _ in range(_ITERATIONS):
        excess = (LIP_OPENING_NEUTRAL + torch.einsum("nct,c->nt", v, gains) - target).clamp(min=0)
        if float(excess.max()) <= 1e-6:
            break
        # A channel can help while it is not at the bound it moves towards.
        upper = torch.ones_like(v)
        upper[:, close] = v[:, jaw]
        movable = torch.where(g > 0, v > 1e-6, v < upper - 1e-6).float() * free
        # With mouthClose at its cap (jawOpen), lowering the jaw lowers the cap too and the two
        # cancel: the rest of the closing must come from the lips themselves.
        movable[:, jaw] = movable[:, jaw] * (v[:, close] < v[:, jaw] - 1e-6).float()
        a = weights[None, :, None] * g * movable
        denominator = (a * g).sum(dim=1).clamp(min=1e-9)
        v = v - excess[:, None] * a / denominator[:, None]
        v = v.clamp(0, 1)
        v[:, close] = torch.minimum(v[:, close], v[:, jaw])
    out = x0.clone()
    out[..., active] = v * 2 - 1
    return out


# --- Open vowels, when a transcript places them ---------------------------------------------------
# With a transcript the open vowels' places are known as well as the bilabials': the lips open at
# least OPEN_MIN (of the jawOpen = 1 gap) on them. The vowels are the evaluation's open vowels
# (server.evaluation.lipsync.OPEN_VOWELS), and OPEN_MIN sits above its 0.15 "opened" threshold.
OPEN_MIN = 0.2
OPENING_WEIGHTS: dict[str, float] = {
    "mouthClose": 1.0,
    "jawOpen": 0.5,
    "mouthLowerDownLeft": 0.3, "mouthLowerDownRight": 0.3,
    "mouthUpperUpLeft": 0.3, "mouthUpperUpRight": 0.3,
    "mouthPressLeft": 0.3, "mouthPressRight": 0.3,
    "mouthRollLower": 0.3, "mouthRollUpper": 0.3, "mouthShrugLower": 0.3,
}


def opening_envelope(phones, num_frames: int, fps: float) -> np.ndarray:
    """(num_frames,) 1 on the frames at each open vowel's middle half (at least its middle frame),
    0 elsewhere and on every frame a bilabial owns (``closure_envelope`` at 1). A closure's ramp
    may reach a short vowel's only frame (a 30 ms schwa before "m"): there the vowel wins, as
    the engine opens after it closes."""
    out = np.zeros(num_frames)
    for phone, start, end in phones:
        if phone not in OPEN_VOWELS:
            continue
        quarter = 0.25 * (end - start)
        lo = int(np.ceil((start + quarter) * fps))
        hi = int(np.floor((end - quarter) * fps))
        frames = np.arange(lo, hi + 1) if hi >= lo else np.array([int(round(0.5 * (start + end) * fps))])
        frames = frames[(frames >= 0) & (frames < num_frames)]
        out[frames] = 1.0
    out[closure_envelope(phones, num_frames, fps) >= 1.0 - 1e-6] = 0.0
    return out


def open_lips(x0: torch.Tensor, envelope: torch.Tensor, free: torch.Tensor, strength: float = 1.0,
              minimum: float = OPEN_MIN) -> torch.Tensor:
    """Project x0 (N, 52, T) in model space so the lip opening is at least ``strength * minimum *
    envelope[t]`` (the weighted least-change way: mostly less mouthClose, then more jaw and lip
    raise/lower); only ``free`` moves, mouthClose <= jawOpen is kept."""
    if strength <= 0 or float(envelope.max()) <= 0:
        return x0
    gains = torch.tensor(gain_vector(), dtype=torch.float32, device=x0.device)
    weights = torch.zeros(NUM_CHANNELS, dtype=torch.float32, device=x0.device)
    for name, w in OPENING_WEIGHTS.items():
        weights[INDEX[name]] = w
    g = gains[None, :, None]
    active = envelope > 0
    v = (x0[..., active] + 1) / 2
    free = free[..., active]
    jaw, close = INDEX["jawOpen"], INDEX["mouthClose"]
    target = (strength * minimum * envelope[active].clamp(0, 1))[None]
    for _ in range(_ITERATIONS):
        shortfall = (target - LIP_OPENING_NEUTRAL - torch.einsum("nct,c->nt", v, gains)).clamp(min=0)
        if float(shortfall.max()) <= 1e-6:
            break
        movable = torch.where(g > 0, v < 1 - 1e-6, v > 1e-6).float() * free
        a = weights[None, :, None] * g * movable
        denominator = (a * g).sum(dim=1).clamp(min=1e-9)
        v = (v + shortfall[:, None] * a / denominator[:, None]).clamp(0, 1)
        v[:, close] = torch.minimum(v[:, close], v[:, jaw])
    out = x0.clone()
    out[..., active] = v * 2 - 1
    return out


# --- as wrappers of the model callable (server/diffusion/sample.py) ------------------------------


def with_closures(model_fn, envelope: torch.Tensor, free: torch.Tensor, strength: float):
    """``model_fn(x_t, t) -> x0`` whose every prediction is projected by ``close_lips``."""
    return lambda x_t, t: close_lips(model_fn(x_t, t), envelope, free, strength)


def with_openings(model_fn, envelope: torch.Tensor | None, free: torch.Tensor, strength: float):
    """``model_fn`` whose every prediction is projected by ``open_lips`` (unchanged without an envelope)."""
    if envelope is None:
        return model_fn
    return lambda x_t, t: open_lips(model_fn(x_t, t), envelope, free, strength)


def closed_at_output_rate(curves: np.ndarray, envelope: np.ndarray, known_mask: np.ndarray,
                          strength: float) -> np.ndarray:
    """The second closure pass: ``close_lips`` on resampled takes (N, T, 52) in [0, 1] at the output
    rate, with that rate's envelope (T,); known values (``known_mask``, (T, 52) bool) stay. A closure one model frame long
    can fall between two frames at another rate (30 -> 24 fps): this closes the lips again on the
    output frames that overlap a p/b/m."""
    n = curves.shape[0]
    free_out = torch.from_numpy(~known_mask.T.copy()).float()[None].expand(n, -1, -1)
    closed = close_lips(torch.from_numpy(curves).transpose(1, 2) * 2.0 - 1.0,
                        torch.from_numpy(envelope).float(), free_out, strength)
    return ((closed + 1.0) / 2.0).clamp(0, 1).transpose(1, 2).numpy()
