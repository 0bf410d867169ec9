"""Lip opening as a linear function of the ARKit coefficients.

The evaluation and the teacher share this definition, so that "the lips close on p/b/m"
means the same thing when the teacher makes the curves and when a metric scores them.

How the gains were measured (reproduce with `scripts/measure_lip_gains --npz arkit_mouth.npz`):
on the ARKit reference mesh (SAiD's 51 shape OBJs, mouth region in arkit_mouth.npz), the lip
opening is the signed vertical gap between the inner upper and inner lower lip, averaged over the
three midline inner-lip vertex pairs (x = 0 and x = +-3.5 mm). The mesh is a linear blendshape
model, so the gap is linear in the weights: gap = gap_neutral + sum_i w_i * gap_i, where gap_i is
the vertical gap change of shape i's deltas. Dividing everything by the jawOpen gap (40.1 mm) makes
jawOpen = 1 alone an opening of 1.0. Channels whose gain is below 0.005 in magnitude are left out.
These are derived numbers, not data.
"""

from __future__ import annotations

import numpy as np

from addon.core.arkit import CHANNELS, INDEX

# Opening of the neutral face (lips all but touching), in jawOpen units.
LIP_OPENING_NEUTRAL = 0.0034

# Opening per unit weight of each channel, in jawOpen units (see the module docstring).
LIP_OPENING_GAINS: dict[str, float] = {
    "jawOpen": 1.0,
    "mouthClose": -1.0123,
    "mouthFunnel": 0.2271,
    "mouthPucker": 0.0331,
    "mouthShrugLower": -0.1428,
    "mouthShrugUpper": 0.1223,
    "mouthRollUpper": -0.1256,
    "mouthRollLower": -0.0713,
    "mouthUpperUpLeft": 0.1241,
    "mouthUpperUpRight": 0.1241,
    "mouthLowerDownLeft": 0.1094,
    "mouthLowerDownRight": 0.1094,
    "jawLeft": -0.0095,
    "jawRight": -0.0095,
    "mouthLeft": 0.0091,
    "mouthRight": 0.0091,
    "mouthPressLeft": -0.0082,
    "mouthPressRight": -0.0082,
}

# The same gains as a vector in CHANNELS order, for curves @ LIP_OPENING_VECTOR.
LIP_OPENING_VECTOR = np.zeros(len(CHANNELS), dtype=np.float64)
for _name, _gain in LIP_OPENING_GAINS.items():
    LIP_OPENING_VECTOR[INDEX[_name]] = _gain

# Lips count as closed at or below this opening (5% of the jawOpen = 1 gap, about 2 mm).
LIPS_CLOSED_THRESHOLD = 0.05


def lip_opening(curves: np.ndarray) -> np.ndarray:
    """Lip opening (jawOpen = 1 alone gives 1.0) of curves shaped (..., 52)."""
    curves = np.asarray(curves)
    if curves.shape[-1] != len(CHANNELS):
        raise ValueError(f"lip_opening needs curves with {len(CHANNELS)} channels in the last axis, got shape {curves.shape}")
    return LIP_OPENING_NEUTRAL + curves @ LIP_OPENING_VECTOR
