"""The lower face: phones -> articulatory parameters (dominance blending) -> ARKit mouth channels.

Coarticulation follows Cohen & Massaro (1993): every phone exerts, for every articulatory
parameter, a dominance that is flat over its own span and decays exponentially outside it (with
separate anticipatory and carry-over time constants); the parameter at time t is the
dominance-weighted mean of all phones' targets. Phones that do not care about a parameter (a
consonant about rounding) have little dominance, so the neighbours' targets carry across them -
that is how rounding is anticipated over several consonants ("strew").

Targets that are physical contacts (lips on p/b/m, lower lip on teeth for f/v, tongue tip between
the teeth for th) cannot be left to a weighted mean, which would stop short and would leak into the
neighbouring vowels. They are imposed as envelopes: full over the phone's whole span with
raised-cosine ramps outside it.
"""

from __future__ import annotations

import numpy as np

from addon.core.arkit import INDEX, NUM_CHANNELS

from server.face.lip_opening import LIP_OPENING_VECTOR, MOUTH_CLOSE_GAIN, raw_lip_opening
from server.phones import BILABIALS, LABIODENTALS, NON_SPEECH, VOWELS

from .phones import P, PARAMS, TARGETS
from .style import Style

# Dominance time constants (seconds): how far a phone's influence reaches outside its span.
TAU_VOWEL = (0.07, 0.06)           # (anticipatory, carry-over)
TAU_ROUNDED_VOWEL = (0.18, 0.08)   # rounding is anticipated early, across consonant clusters
TAU_CONSONANT = (0.04, 0.035)
TAU_PAUSE = (0.02, 0.02)
SMOOTHING_S = 0.012                # final low-pass of the blended parameters (no frame jitter)

# Contact envelopes: closing starts this long before the span and opens this long after it.
CLOSURE_RAMP_IN_S = 0.05
CLOSURE_RAMP_OUT_S = 0.04
LABIO_RAMP_S = 0.045
# A ramp may take at most this share of the neighbouring phone, and is never shorter than MIN_RAMP_S.
CONTACT_RAMP_SHARE = 0.5
MIN_RAMP_S = 0.012
# The tongue tip shows between the teeth on th (more on voiceless TH), only around the phone.
TONGUE_OUT = {"TH": 0.35, "DH": 0.25}
TONGUE_RAMP_S = 0.04
# An audible breath flares the nostrils a little.
BREATH_NOSTRIL_FLARE = 0.12
BREATH_RAMP_S = 0.1

# Lip opening (jawOpen units) the contacts aim for: lips pressed on p/b/m, lip just off the
# upper teeth on f/v.
CLOSED_OPENING = -0.004
LABIODENTAL_OPENING = 0.03
# Articulation scales jaw and lip amplitude by FLOOR + (1 - FLOOR) * articulation: 1 at the
# neutral 1, and at 0 (mumbled) the mouth still moves a little.
ARTICULATION_FLOOR = 0.25
# A frown (negative smile): mouthFrown, with a little press and lower-lip pull.
FROWN_GAIN = 0.7
FROWN_PRESS = 0.15
FROWN_LOWER_DOWN = 0.1
# Channels that open the lips (lip-opening gain above this): an emotion's offset on them is
# withheld while the lips are together, so it never opens a closure.
LIP_OPENING_GAIN_MIN = 0.01


def articulation_gain(articulation: float) -> float:
    return ARTICULATION_FLOOR + (1.0 - ARTICULATION_FLOOR) * articulation


def _segments(phones):
    """Expand diphthongs into their two halves: (phone, start, end, target)."""
    out = []
    for phone, start, end, _stress in phones:
        targets = TARGETS[phone]
        if len(targets) == 1:
            out.append((phone, start, end, targets[0]))
        else:
            mid = start + 0.5 * (end - start)
            out.append((phone, start, mid, targets[0]))
            out.append((phone, mid, end, targets[1]))
    return out


def _time_constants(phone: str, param: str, target) -> tuple[float, float]:
    if phone in VOWELS:
        if param in ("round", "funnel") and target.values.get("round", 0.0) >= 0.3:
            return TAU_ROUNDED_VOWEL
        return TAU_VOWEL
    if phone in NON_SPEECH:
        return TAU_PAUSE
    return TAU_CONSONANT


def blend_parameters(phones, times: np.ndarray) -> np.ndarray:
    """Dominance-blended articulatory parameters (len(times), len(PARAMS)) at `times`."""
    n = len(times)
    weighted = np.zeros((n, len(PARAMS)))
    total = np.full((n, len(PARAMS)), 1e-9)
    step = times[1] - times[0] if n > 1 else 1.0
    for phone, start, end, target in _segments(phones):
        for param in PARAMS:
            alpha = target.dominance.get(param, target.default_dominance)
            if alpha <= 0:
                continue
            tau_a, tau_c = _time_constants(phone, param, target)
            lo = np.searchsorted(times, start - 8 * tau_a)
            hi = np.searchsorted(times, end + 8 * tau_c)
            t = times[lo:hi]
            before = np.clip(start - t, 0.0, None)
            after = np.clip(t - end, 0.0, None)
            dominance = alpha * np.exp(-before / tau_a - after / tau_c)
            j = P[param]
            weighted[lo:hi, j] += dominance * target.values.get(param, 0.0)
            total[lo:hi, j] += dominance
    params = weighted / total
    return gaussian_smooth(params, SMOOTHING_S / step)


def gaussian_smooth(x: np.ndarray, sigma_samples: float) -> np.ndarray:
    """Gaussian low-pass along axis 0 with edge padding (no fade towards zero at the ends)."""
    if sigma_samples < 0.5:
        return x
    radius = int(np.ceil(3 * sigma_samples))
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma_samples) ** 2)
    kernel /= kernel.sum()
    padded = np.pad(x, [(radius, radius)] + [(0, 0)] * (x.ndim - 1), mode="edge")
    out = np.empty_like(x, dtype=np.float64)
    flat = padded.reshape(padded.shape[0], -1)
    out_flat = out.reshape(out.shape[0], -1)
    for c in range(flat.shape[1]):
        out_flat[:, c] = np.convolve(flat[:, c], kernel, mode="valid")
    return out


def contact_envelope(phones, times: np.ndarray, heights: dict[str, float], ramp_in: float, ramp_out: float) -> np.ndarray:
    """heights[phone] over the spans of those phones, with raised-cosine ramps outside them.

    A ramp takes at most half of the neighbouring phone, so a short vowel between two contacts
    ("mum", a 40 ms schwa) still opens at its middle instead of being swallowed by the ramps.
    """
    env = np.zeros(len(times))
    for k, (phone, start, end, _stress) in enumerate(phones):
        height = heights.get(phone)
        if height is None:
            continue
        before = start - phones[k - 1][1] if k > 0 else ramp_in
        after = phones[k + 1][2] - end if k + 1 < len(phones) else ramp_out
        r_in = max(min(ramp_in, CONTACT_RAMP_SHARE * before), MIN_RAMP_S)
        r_out = max(min(ramp_out, CONTACT_RAMP_SHARE * after), MIN_RAMP_S)
        lo = np.searchsorted(times, start - r_in)
        hi = np.searchsorted(times, end + r_out)
        t = times[lo:hi]
        rise = np.clip((t - (start - r_in)) / r_in, 0.0, 1.0)
        fall = np.clip(((end + r_out) - t) / r_out, 0.0, 1.0)
        shape = height * (0.5 - 0.5 * np.cos(np.pi * np.minimum(rise, fall)))
        env[lo:hi] = np.maximum(env[lo:hi], shape)
    return env


def mouth_channels(phones, times: np.ndarray, jaw_gain: np.ndarray, style: Style,
                   offsets: np.ndarray | None = None) -> np.ndarray:
    """ARKit curves (len(times), 52) for the lower face, plus the nostril flare of breaths.

    `jaw_gain` (per time) carries loudness; the style scales what speech leaves free. `offsets`
    (an emotion's, (len(times), 52)) are added to the mouth channels before mouthClose is solved,
    so the contacts still close.
    """
    params = blend_parameters(phones, times)
    closure_env = contact_envelope(phones, times, dict.fromkeys(BILABIALS, 1.0), CLOSURE_RAMP_IN_S, CLOSURE_RAMP_OUT_S)
    labio_env = contact_envelope(phones, times, dict.fromkeys(LABIODENTALS, 1.0), LABIO_RAMP_S, LABIO_RAMP_S)
    tongue_env = contact_envelope(phones, times, TONGUE_OUT, TONGUE_RAMP_S, TONGUE_RAMP_S)
    breath_env = contact_envelope(phones, times, {"BR": 1.0}, BREATH_RAMP_S, BREATH_RAMP_S)

    close = np.maximum(params[:, P["close"]], closure_env)
    labio = labio_env
    art = articulation_gain(style.articulation)
    smile, frown = max(style.smile, 0.0), max(-style.smile, 0.0)
    left, right = 1.0 + 0.5 * style.asymmetry, 1.0 - 0.5 * style.asymmetry
    open_lips = 1.0 - close

    # During a lip contact the jaw rises towards the closed position.
    jaw = params[:, P["jaw"]] * (1.0 - 0.45 * closure_env) * (1.0 - 0.5 * labio_env)
    jaw = np.clip(jaw * style.jaw_range * jaw_gain * art, 0.0, 1.0)
    curves = np.zeros((len(times), NUM_CHANNELS))

    def put(name, value):
        curves[:, INDEX[name]] = np.clip(value, 0.0, 1.0)

    rounding = params[:, P["round"]] * art
    put("jawOpen", jaw)
    put("jawForward", 0.08 * rounding)
    put("mouthPucker", rounding)
    put("mouthFunnel", params[:, P["funnel"]] * art * open_lips * (1.0 - labio))
    spread = params[:, P["spread"]] * art * (1.0 - 0.7 * rounding)
    put("mouthStretchLeft", 0.35 * spread * left)
    put("mouthStretchRight", 0.35 * spread * right)
    put("mouthSmileLeft", (smile + 0.12 * spread) * left)
    put("mouthSmileRight", (smile + 0.12 * spread) * right)
    put("mouthDimpleLeft", 0.3 * smile * left)
    put("mouthDimpleRight", 0.3 * smile * right)
    put("mouthFrownLeft", FROWN_GAIN * frown * left * np.ones(len(times)))
    put("mouthFrownRight", FROWN_GAIN * frown * right * np.ones(len(times)))
    lower = (params[:, P["lower"]] * art + FROWN_LOWER_DOWN * frown) * open_lips * (1.0 - labio)
    put("mouthLowerDownLeft", lower * left)
    put("mouthLowerDownRight", lower * right)
    upper = params[:, P["upper"]] * art * open_lips + 0.2 * labio
    put("mouthUpperUpLeft", upper * left)
    put("mouthUpperUpRight", upper * right)
    put("mouthRollLower", 0.55 * labio + 0.1 * closure_env)
    put("mouthRollUpper", 0.08 * closure_env)
    put("mouthPressLeft", (0.4 * closure_env + FROWN_PRESS * frown) * left)
    put("mouthPressRight", (0.4 * closure_env + FROWN_PRESS * frown) * right)
    put("mouthLeft", 0.15 * max(style.asymmetry, 0.0) * np.ones(len(times)))
    put("mouthRight", 0.15 * max(-style.asymmetry, 0.0) * np.ones(len(times)))
    put("tongueOut", tongue_env * art * open_lips)
    put("noseSneerLeft", BREATH_NOSTRIL_FLARE * breath_env)
    put("noseSneerRight", BREATH_NOSTRIL_FLARE * breath_env)
    if offsets is not None:
        opens = np.nonzero(LIP_OPENING_VECTOR > LIP_OPENING_GAIN_MIN)[0]
        held = offsets.copy()
        held[:, opens] *= open_lips[:, None] * (1.0 - labio)[:, None]
        np.clip(curves + held, 0.0, 1.0, out=curves)

    # mouthClose brings the lips together against whatever the other channels open: solve the
    # linear lip-opening model for the mouthClose that gives the opening the contacts ask for.
    free = raw_lip_opening(curves)
    wanted = free * (1.0 - close) + CLOSED_OPENING * close
    wanted = wanted * (1.0 - labio) + labio * np.minimum(wanted, LABIODENTAL_OPENING)
    mouth_close = (free - wanted) / -MOUTH_CLOSE_GAIN
    put("mouthClose", np.clip(mouth_close, 0.0, jaw + 0.05))
    return curves
