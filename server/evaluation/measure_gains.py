"""``scripts/measure_lip_gains``: reproduce LIP_OPENING_NEUTRAL and LIP_GAINS from the reference face."""

from __future__ import annotations

import argparse
import sys

import numpy as np

from addon.core.arkit import INDEX, NUM_CHANNELS
from server.face.lip_opening import (LIP_GAINS, LIP_OPENING_NEUTRAL, LipModel, lip_opening,
                                     load_mesh_lip_model, load_npz_lip_model)

REFERENCE_POSES = {
    "neutral": {},
    "jawOpen": {"jawOpen": 1.0},
    "jawOpen + mouthClose": {"jawOpen": 1.0, "mouthClose": 1.0},
    "mouthFunnel": {"mouthFunnel": 1.0},
}


def pose(weights: dict[str, float]) -> np.ndarray:
    w = np.zeros(NUM_CHANNELS)
    for name, value in weights.items():
        w[INDEX[name]] = value
    return w


def report(model: LipModel, out=sys.stdout) -> None:
    neutral, gains = model.gains()
    print(f"# {model.description}", file=out)
    print(f"# jawOpen = 1 gap: {model.jaw_open_gap * 1000:.1f} mm (mesh units taken as metres)", file=out)
    print(f"LIP_OPENING_NEUTRAL = {neutral:.4f}", file=out)
    print("LIP_GAINS: dict[str, float] = {", file=out)
    for name, gain in gains.items():
        if abs(gain) >= 1e-4:
            print(f'    "{name}": {gain:.4f},', file=out)
    print("}", file=out)
    print("# reference poses: measured here | lip_opening() with the committed constants", file=out)
    for label, weights in REFERENCE_POSES.items():
        print(f"#   {label:22s} {model.lip_opening(pose(weights)):.4f} | "
              f"{lip_opening(pose(weights)):.4f}", file=out)
    committed = np.array([LIP_GAINS.get(n, 0.0) for n in gains])
    measured = np.array([g if abs(g) >= 1e-4 else 0.0 for g in gains.values()])
    worst = float(np.max(np.abs(committed - measured)))
    print(f"# largest difference from the committed gains: {worst:.5f}; neutral "
          f"{abs(neutral - LIP_OPENING_NEUTRAL):.5f}", file=out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="measure_lip_gains", description=__doc__)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--npz", help="arkit_mouth.npz (mouth region with its inner-lip pairs)")
    source.add_argument("--mesh", help="folder of ARKit blendshape OBJs with Neutral.obj")
    args = parser.parse_args(argv)
    try:
        model = load_npz_lip_model(args.npz) if args.npz else load_mesh_lip_model(args.mesh)
    except (OSError, ValueError) as error:
        print(f"measure_lip_gains: {error}", file=sys.stderr)
        return 2
    report(model)
    return 0


if __name__ == "__main__":
    sys.exit(main())
