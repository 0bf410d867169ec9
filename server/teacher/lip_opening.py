"""Lip opening, as the teacher uses it: the evaluation's one definition, re-exported.

server.evaluation.lip_opening holds the gains (measured on the ARKit reference mesh by
`scripts/measure_lip_gains --npz arkit_mouth.npz`: the mean vertical gap of the three midline
inner-lip vertex pairs per unit of each coefficient, divided by the jawOpen = 1 gap). The teacher
solves that same affine model for mouthClose, so "the lips close on p/b/m" means the same thing
when the teacher draws the curves and when the evaluation scores them.
"""

from __future__ import annotations

import numpy as np

from addon.core.arkit import INDEX
from server.evaluation.lip_opening import CLOSED_THRESHOLD, LIP_GAINS, LIP_OPENING_NEUTRAL, gain_vector, lip_opening

# The affine model as a vector in CHANNELS order (unclamped: negative means lips pressed).
LIP_OPENING_VECTOR: np.ndarray = gain_vector()
MOUTH_CLOSE_GAIN: float = float(LIP_OPENING_VECTOR[INDEX["mouthClose"]])


def raw_lip_opening(curves: np.ndarray) -> np.ndarray:
    """The affine lip-opening model without the clamp at 0 (pressed lips go below 0)."""
    return LIP_OPENING_NEUTRAL + np.asarray(curves, dtype=np.float64) @ LIP_OPENING_VECTOR


__all__ = ["CLOSED_THRESHOLD", "LIP_GAINS", "LIP_OPENING_NEUTRAL", "LIP_OPENING_VECTOR", "MOUTH_CLOSE_GAIN",
           "lip_opening", "raw_lip_opening"]
