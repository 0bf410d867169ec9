"""Lip opening: how far apart the lips are, as a function of the 52 ARKit coefficients.

Definition (the one every part of Mouthpiece uses: inference's closure guidance, the teacher,
training and the evaluation import it from here):

    lip_opening(w) = max(0, LIP_OPENING_NEUTRAL + sum_i LIP_GAINS[i] * w_i)

It is the signed vertical gap between the inner upper lip and the inner lower lip, averaged
over three midline vertex pairs (the pair at x = 0 and its neighbours along the inner-lip
boundary at x = +-3.5 mm), in the linear blendshape model v = v0 + sum_i w_i (v_i - v0) of
Apple's ARKit reference face, divided by the gap that jawOpen = 1 alone gives (40.2 mm on
that face). So 0 means the lips touch, 1 means "as open as jawOpen = 1", and 0.05 (the
"closed" threshold of the evaluation) is about 2 mm. Because the model is linear, the gap is
exactly affine in the coefficients and each channel has one gain; the clamp at 0 says lips
cannot interpenetrate (jawOpen + mouthClose drives the raw gap slightly negative).

The constants were measured by ``scripts/measure_lip_gains --npz arkit_mouth.npz`` (or
``--mesh ARKit_blendshapes``, which finds the pairs on the full mesh by itself and gives the
same figures); reference points: neutral 0.003, jawOpen 1.0, jawOpen + mouthClose 0.0,
mouthFunnel 0.23.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from addon.core.arkit import CHANNELS, INDEX, NUM_CHANNELS

# The evaluation's threshold for "lips closed": 5% of the jawOpen = 1 gap (about 2 mm).
CLOSED_THRESHOLD = 0.05

# Gap at the neutral face (all coefficients 0), in units of the jawOpen = 1 gap.
LIP_OPENING_NEUTRAL = 0.0034
# Change of the gap per unit of each coefficient; channels not listed have |gain| < 1e-4.
LIP_GAINS: dict[str, float] = {
    "jawForward": -0.0050,
    "jawRight": -0.0094,
    "jawLeft": -0.0094,
    "jawOpen": 0.9966,
    "mouthClose": -1.0089,
    "mouthFunnel": 0.2264,
    "mouthPucker": 0.0330,
    "mouthRight": 0.0091,
    "mouthLeft": 0.0091,
    "mouthSmileLeft": -0.0039,
    "mouthSmileRight": -0.0039,
    "mouthFrownLeft": -0.0048,
    "mouthFrownRight": -0.0048,
    "mouthDimpleLeft": 0.0021,
    "mouthDimpleRight": 0.0021,
    "mouthStretchLeft": -0.0047,
    "mouthStretchRight": -0.0047,
    "mouthRollLower": -0.0710,
    "mouthRollUpper": -0.1252,
    "mouthShrugLower": -0.1424,
    "mouthShrugUpper": 0.1219,
    "mouthPressLeft": -0.0081,
    "mouthPressRight": -0.0081,
    "mouthLowerDownLeft": 0.1090,
    "mouthLowerDownRight": 0.1090,
    "mouthUpperUpLeft": 0.1237,
    "mouthUpperUpRight": 0.1237,
    "cheekPuff": -0.0016,
}

# Distance from the midline of the side pairs, as a count of inner-lip boundary vertices.
_PAIRS_EACH_SIDE = 1


def gain_vector(gains: dict[str, float] | None = None) -> np.ndarray:
    """The gains as a (52,) vector in CHANNELS order."""
    vector = np.zeros(NUM_CHANNELS, np.float64)
    for name, gain in (LIP_GAINS if gains is None else gains).items():
        vector[INDEX[name]] = gain
    return vector


def _as_curves(curves) -> np.ndarray:
    array = np.asarray(curves, dtype=np.float64)
    if array.shape[-1] != NUM_CHANNELS:
        raise ValueError(
            f"curves must have {NUM_CHANNELS} ARKit channels in the last axis "
            f"(addon.core.arkit.CHANNELS order); got shape {array.shape}")
    return array


def lip_opening(curves) -> np.ndarray:
    """Lip opening of each frame of ``curves`` (..., 52) -> (...,), in jawOpen = 1 units, >= 0."""
    return np.maximum(raw_lip_opening(curves), 0.0)


# The affine model as a vector in CHANNELS order (unclamped: negative means lips pressed). The
# teacher solves it for mouthClose, so "the lips close on p/b/m" means the same thing when the
# teacher draws the curves, when inference projects closures and when the evaluation scores them.
LIP_OPENING_VECTOR: np.ndarray = gain_vector()
MOUTH_CLOSE_GAIN: float = float(LIP_OPENING_VECTOR[INDEX["mouthClose"]])


def raw_lip_opening(curves) -> np.ndarray:
    """The affine lip-opening model without the clamp at 0 (pressed lips go below 0)."""
    return LIP_OPENING_NEUTRAL + _as_curves(curves) @ LIP_OPENING_VECTOR


@dataclass(frozen=True)
class LipModel:
    """Vertex data for measuring the inner-lip gap: neutral positions and per-channel deltas
    of the upper and lower inner-lip midline vertices (pairs in matching order)."""

    upper_rest: np.ndarray      # (P, 3)
    lower_rest: np.ndarray      # (P, 3)
    upper_deltas: np.ndarray    # (52, P, 3)
    lower_deltas: np.ndarray    # (52, P, 3)
    description: str

    def raw_gap(self, curves) -> np.ndarray:
        """Mean vertical gap (upper y - lower y) over the pairs, in mesh units, unclamped."""
        w = _as_curves(curves)
        rest = (self.upper_rest[:, 1] - self.lower_rest[:, 1]).mean()
        per_channel = (self.upper_deltas[:, :, 1] - self.lower_deltas[:, :, 1]).mean(axis=1)
        return rest + w @ per_channel

    @property
    def jaw_open_gap(self) -> float:
        one_hot = np.zeros(NUM_CHANNELS)
        one_hot[INDEX["jawOpen"]] = 1.0
        return float(self.raw_gap(one_hot))

    def lip_opening(self, curves) -> np.ndarray:
        """The same quantity as :func:`lip_opening`, measured on this mesh's vertices."""
        return np.maximum(self.raw_gap(curves) / self.jaw_open_gap, 0.0)

    def gains(self) -> tuple[float, dict[str, float]]:
        """(neutral opening, per-channel gains) of this mesh, in jawOpen = 1 units."""
        scale = self.jaw_open_gap
        neutral = float(self.raw_gap(np.zeros(NUM_CHANNELS))) / scale
        per_channel = (self.upper_deltas[:, :, 1] - self.lower_deltas[:, :, 1]).mean(axis=1)
        return neutral, {name: float(per_channel[i]) / scale for i, name in enumerate(CHANNELS)}


def load_npz_lip_model(path: str | Path) -> LipModel:
    """The mouth-region file (arkit_mouth.npz): v0, deltas (52 in its ``names`` order), upper, lower."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no lip-model file at {path} (expected arkit_mouth.npz)")
    data = np.load(path, allow_pickle=False)
    missing = {"names", "v0", "deltas", "upper", "lower"} - set(data.files)
    if missing:
        raise ValueError(f"{path} lacks the arrays {sorted(missing)}; expected arkit_mouth.npz's layout")
    names = [str(n) for n in data["names"]]
    order = [names.index(c) if c in names else -1 for c in CHANNELS]
    deltas = np.zeros((NUM_CHANNELS,) + data["deltas"].shape[1:], np.float64)
    for i, j in enumerate(order):
        if j >= 0:
            deltas[i] = data["deltas"][j]
    upper, lower = data["upper"].astype(int), data["lower"].astype(int)
    v0 = data["v0"].astype(np.float64)
    return LipModel(v0[upper], v0[lower], deltas[:, upper], deltas[:, lower],
                    f"{path.name}: inner-lip pairs {upper.tolist()} / {lower.tolist()} (file's own)")


# --- the full mesh: a folder of OBJs named after the ARKit shapes plus Neutral.obj -------------

def read_obj(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (V, 3) and triangles/polygons fanned into triangles (F, 3), 0-based."""
    vertices, faces = [], []
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if line.startswith("v "):
                vertices.append([float(x) for x in line.split()[1:4]])
            elif line.startswith("f "):
                ids = [int(token.split("/")[0]) - 1 for token in line.split()[1:]]
                faces.extend([ids[0], ids[k], ids[k + 1]] for k in range(1, len(ids) - 1))
    if not vertices:
        raise ValueError(f"{path} has no vertices ('v x y z' lines); is it an OBJ file?")
    return np.asarray(vertices, np.float64), np.asarray(faces, np.int64).reshape(-1, 3)


def boundary_loops(faces: np.ndarray) -> list[list[int]]:
    """Closed loops of boundary edges (edges used by one face only): the mesh's holes."""
    counts: dict[tuple[int, int], int] = {}
    for a, b, c in faces:
        for u, v in ((a, b), (b, c), (c, a)):
            key = (min(u, v), max(u, v))
            counts[key] = counts.get(key, 0) + 1
    neighbours: dict[int, list[int]] = {}
    for (u, v), n in counts.items():
        if n == 1:
            neighbours.setdefault(u, []).append(v)
            neighbours.setdefault(v, []).append(u)
    loops, seen = [], set()
    for start in sorted(neighbours):
        if start in seen or len(neighbours[start]) != 2:
            continue
        loop, previous, current = [start], None, start
        seen.add(start)
        while True:
            nxt = [n for n in neighbours[current] if n != previous][0]
            if nxt == start or nxt in seen or len(neighbours[nxt]) != 2:
                break
            loop.append(nxt)
            seen.add(nxt)
            previous, current = current, nxt
        loops.append(loop)
    return loops


def find_inner_lip_pairs(neutral: np.ndarray, jaw_open: np.ndarray, faces: np.ndarray,
                         pairs_each_side: int = _PAIRS_EACH_SIDE) -> tuple[list[int], list[int]]:
    """Upper and lower inner-lip midline vertices of a face mesh, found from its topology.

    The mouth is the boundary loop (hole) whose vertices jawOpen moves the most (the eyes'
    holes barely move). Its two corners (smallest and largest x) split it into two chains;
    the upper lip is the chain with the higher mean y. On each chain the midline vertex is
    the one nearest the face's plane of symmetry (x midway between the corners), joined by
    ``pairs_each_side`` neighbours along the chain on each side; pairs match by position.
    """
    loops = [loop for loop in boundary_loops(faces) if len(loop) >= 6]
    if not loops:
        raise ValueError("the mesh has no holes; cannot find an open mouth (inner-lip boundary)")
    motion = np.linalg.norm(jaw_open - neutral, axis=1)
    mouth = max(loops, key=lambda loop: motion[loop].mean())
    xs = neutral[mouth, 0]
    left, right = int(np.argmin(xs)), int(np.argmax(xs))
    a, b = sorted((left, right))
    chain_one = mouth[a:b + 1]
    chain_two = mouth[b:] + mouth[:a + 1]
    upper, lower = sorted((chain_one, chain_two), key=lambda c: -neutral[c, 1].mean())
    midline_x = 0.5 * (neutral[mouth[left], 0] + neutral[mouth[right], 0])

    def midline_run(chain: list[int]) -> list[int]:
        ordered = sorted(chain, key=lambda v: neutral[v, 0])    # left to right
        centre = int(np.argmin(np.abs(neutral[ordered, 0] - midline_x)))
        lo, hi = centre - pairs_each_side, centre + pairs_each_side + 1
        if lo < 0 or hi > len(ordered):
            raise ValueError("the inner-lip boundary is too short to take midline pairs from")
        return ordered[lo:hi]

    return [int(v) for v in midline_run(upper)], [int(v) for v in midline_run(lower)]


def load_mesh_lip_model(folder: str | Path) -> LipModel:
    """Lip model from a folder of ARKit blendshape OBJs (``Neutral.obj`` + ``jawOpen.obj`` ...)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"--mesh {folder}: not a folder of ARKit blendshape OBJs")
    by_name: dict[str, Path] = {}
    for path in folder.glob("*.obj"):
        by_name[path.stem.lower()] = path
    for needed in ("neutral", "jawopen"):
        if needed not in by_name:
            raise FileNotFoundError(f"--mesh {folder}: needs Neutral.obj and jawOpen.obj (found "
                                    f"{len(by_name)} OBJs)")
    neutral, faces = read_obj(by_name["neutral"])
    shapes = np.zeros((NUM_CHANNELS,) + neutral.shape, np.float64)
    for i, name in enumerate(CHANNELS):
        path = by_name.get(name.lower())
        if path is None:
            continue            # e.g. tongueOut: no mesh, no effect on the lips
        vertices, _ = read_obj(path)
        if vertices.shape != neutral.shape:
            raise ValueError(f"{path.name} has {len(vertices)} vertices, Neutral.obj {len(neutral)}: "
                             "the shapes must share one vertex order")
        shapes[i] = vertices - neutral
    upper, lower = find_inner_lip_pairs(neutral, neutral + shapes[INDEX["jawOpen"]], faces)
    return LipModel(neutral[upper], neutral[lower], shapes[:, upper], shapes[:, lower],
                    f"{folder.name}: inner-lip pairs (mesh vertex ids) {upper} / {lower}, found on the mesh")
