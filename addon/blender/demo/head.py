"""A procedural cartoon head with the 52 ARKit shape keys, for trying Mouthpiece without a rig.

The head faces -Y (Blender's front view); the character's left is +X. It is built from simple
parts in one mesh (skull, lip ring, dark mouth opening, tongue, eyeballs with pupils, eyelids,
brows, nose), and each shape key is a smooth displacement of the parts it concerns, sized so
that the shape reads at a glance at value 1. Pure Python vertex math; ``build_head`` returns
plain lists that the operator turns into a mesh.
"""

from __future__ import annotations

import math

from ...core import arkit

MOUTH_Z = -0.42          # mouth centre height
MOUTH_RX, MOUTH_RZ = 0.26, 0.055
LIP_R = 0.045            # lip tube radius
EYE_X, EYE_Z, EYE_R = 0.3, 0.18, 0.13
HEAD_R = (0.78, 0.86, 1.0)

# Part tags (one per vertex) and the material each part's faces use.
SKIN, LIP_UP, LIP_LO, MOUTH, TONGUE, EYE_L, EYE_R_, PUPIL_L, PUPIL_R, LID_UP_L, LID_UP_R, \
    LID_LO_L, LID_LO_R, BROW_L, BROW_R, NOSE = range(16)
MATERIALS = {  # material name -> RGBA
    "MP_Skin": (0.80, 0.58, 0.47, 1.0), "MP_Lips": (0.70, 0.30, 0.30, 1.0),
    "MP_Mouth": (0.10, 0.03, 0.03, 1.0), "MP_Tongue": (0.85, 0.40, 0.42, 1.0),
    "MP_EyeWhite": (0.95, 0.95, 0.93, 1.0), "MP_Pupil": (0.05, 0.08, 0.12, 1.0),
    "MP_Brow": (0.22, 0.13, 0.08, 1.0),
}
_PART_MATERIAL = {SKIN: 0, NOSE: 0, LID_UP_L: 0, LID_UP_R: 0, LID_LO_L: 0, LID_LO_R: 0,
                  LIP_UP: 1, LIP_LO: 1, MOUTH: 2, TONGUE: 3, EYE_L: 4, EYE_R_: 4,
                  PUPIL_L: 5, PUPIL_R: 5, BROW_L: 6, BROW_R: 6}


def _smooth(edge0: float, edge1: float, x: float) -> float:
    t = min(1.0, max(0.0, (x - edge0) / (edge1 - edge0)))
    return t * t * (3 - 2 * t)


def _near(p, centre, radius) -> float:
    """1 at ``centre`` falling smoothly to 0 at ``radius``."""
    d = math.dist(p, centre)
    return 1.0 - _smooth(0.0, radius, d)


def _skull_front_y(x: float, z: float) -> float:
    rx, ry, rz = HEAD_R
    inside = 1.0 - (x / rx) ** 2 - (z / rz) ** 2
    return -ry * math.sqrt(max(inside, 0.0))


class _Builder:
    def __init__(self):
        self.verts: list[tuple[float, float, float]] = []
        self.parts: list[int] = []
        self.faces: list[tuple[int, ...]] = []
        self.face_materials: list[int] = []

    def add(self, verts, parts, faces, material_of_face):
        base = len(self.verts)
        self.verts += verts
        self.parts += parts
        for face in faces:
            self.faces.append(tuple(base + i for i in face))
            self.face_materials.append(material_of_face([parts[i] for i in face]))

    def sphere(self, centre, radii, segments, rings, part_of):
        cx, cy, cz = centre
        verts, parts, faces = [], [], []
        for r in range(1, rings):
            theta = math.pi * r / rings
            for s in range(segments):
                phi = 2 * math.pi * s / segments
                n = (math.sin(theta) * math.cos(phi), math.sin(theta) * math.sin(phi), math.cos(theta))
                verts.append((cx + radii[0] * n[0], cy + radii[1] * n[1], cz + radii[2] * n[2]))
                parts.append(part_of(n))
        top, bottom = len(verts), len(verts) + 1
        verts += [(cx, cy, cz + radii[2]), (cx, cy, cz - radii[2])]
        parts += [part_of((0, 0, 1)), part_of((0, 0, -1))]
        for r in range(rings - 2):
            for s in range(segments):
                a, b = r * segments + s, r * segments + (s + 1) % segments
                faces.append((a, b, b + segments, a + segments))
        last = (rings - 2) * segments
        for s in range(segments):
            faces.append((top, (s + 1) % segments, s))
            faces.append((bottom, last + s, last + (s + 1) % segments))
        return verts, parts, faces


def build_head():
    """(verts, faces, face_materials, parts) of the neutral head."""
    b = _Builder()
    by_part = lambda ps: _PART_MATERIAL[max(sorted(set(ps)), key=ps.count)]  # noqa: E731
    # Skull: an ellipsoid whose poles are along Z.
    v, p, f = b.sphere((0, 0, 0), HEAD_R, 40, 28, lambda n: SKIN)
    v = [(x * (1 - 0.18 * _smooth(-0.2, -1.0, z)), y, z) for x, y, z in v]  # narrower jaw
    b.add(v, p, f, by_part)
    # Nose: a small ellipsoid on the face.
    nz = -0.12
    v, p, f = b.sphere((0, _skull_front_y(0, nz) - 0.02, nz), (0.09, 0.12, 0.15), 12, 8, lambda n: NOSE)
    b.add(v, p, f, by_part)
    # Lip ring (a tube around the mouth) and the dark mouth opening inside it.
    segments, sides = 32, 8
    verts, parts, faces = [], [], []
    for s in range(segments):
        a = 2 * math.pi * s / segments
        cx, cz = MOUTH_RX * math.cos(a), MOUTH_RZ * math.sin(a)
        out = (math.cos(a) * MOUTH_RZ, math.sin(a) * MOUTH_RX)
        norm = math.hypot(*out)
        ox, oz = out[0] / norm, out[1] / norm
        front = _skull_front_y(cx, MOUTH_Z + cz) - 0.025
        for k in range(sides):
            c = 2 * math.pi * k / sides
            radial, depth = LIP_R * math.cos(c), LIP_R * math.sin(c)
            verts.append((cx + ox * radial, front + depth, MOUTH_Z + cz + oz * radial))
            parts.append(LIP_UP if math.sin(a) > 1e-9 else LIP_LO)  # both corners: lower lip
    for s in range(segments):
        for k in range(sides):
            a0, a1 = s * sides + k, ((s + 1) % segments) * sides + k
            faces.append((a0, a1, a1 - k + (k + 1) % sides, a0 - k + (k + 1) % sides))
    b.add(verts, parts, faces, by_part)
    verts, parts, faces = [], [], []
    rings = 4
    for r in range(1, rings + 1):
        for s in range(segments):
            a = 2 * math.pi * s / segments
            x, z = MOUTH_RX * math.cos(a) * r / rings, MOUTH_RZ * math.sin(a) * r / rings
            verts.append((x, _skull_front_y(x, MOUTH_Z + z) - 0.012, MOUTH_Z + z))
            parts.append(MOUTH)
    centre = len(verts)
    verts.append((0.0, _skull_front_y(0, MOUTH_Z) - 0.012, MOUTH_Z))
    parts.append(MOUTH)
    for s in range(segments):
        faces.append((centre, s, (s + 1) % segments))
        for r in range(rings - 1):
            a, c = r * segments + s, r * segments + (s + 1) % segments
            faces.append((a, a + segments, c + segments, c))
    b.add(verts, parts, faces, by_part)
    # Tongue, resting behind the mouth opening.
    v, p, f = b.sphere((0, _skull_front_y(0, MOUTH_Z) + 0.03, MOUTH_Z - 0.02), (0.13, 0.16, 0.035), 12, 8,
                       lambda n: TONGUE)
    b.add(v, p, f, by_part)
    # Eyes with pupils, upper and lower lids (skin shells), brows.
    for side, eye, pupil, lid_up, lid_lo, brow in ((1, EYE_L, PUPIL_L, LID_UP_L, LID_LO_L, BROW_L),
                                                   (-1, EYE_R_, PUPIL_R, LID_UP_R, LID_LO_R, BROW_R)):
        ex = side * EYE_X
        ey = _skull_front_y(ex, EYE_Z) + 0.06
        v, p, f = b.sphere((ex, ey, EYE_Z), (EYE_R,) * 3, 20, 14,
                           lambda n, e=eye, q=pupil: q if n[1] < -0.88 else e)
        b.add(v, p, f, by_part)
        for part, z_min, z_max in ((lid_up, 0.05, 1.0), (lid_lo, -1.0, -0.55)):
            v, p, f = b.sphere((ex, ey, EYE_Z), (EYE_R * 1.1,) * 3, 20, 14, lambda n, q=part: q)
            keep = [i for i, (x, y, z) in enumerate(v) if z_min <= (z - EYE_Z) / (EYE_R * 1.1) <= z_max]
            index = {old: new for new, old in enumerate(keep)}
            faces = [tuple(index[i] for i in face) for face in f if all(i in index for i in face)]
            b.add([v[i] for i in keep], [p[i] for i in keep], faces, by_part)
        bz = EYE_Z + 0.2
        verts, parts, faces = [], [], []
        for i in range(7):  # a curved bar of 6 boxes from inner (nose side) to outer end
            t = i / 6
            x = side * (EYE_X - 0.15 + 0.32 * t)
            z = bz + 0.03 * math.sin(math.pi * t)
            y = _skull_front_y(x, z) - 0.015
            for dz, dy in ((0.025, 0), (-0.025, 0), (-0.025, 0.03), (0.025, 0.03)):
                verts.append((x, y + dy - 0.01, z + dz))
                parts.append(brow)
        for i in range(6):
            a, c = 4 * i, 4 * (i + 1)
            for k in range(4):
                faces.append((a + k, a + (k + 1) % 4, c + (k + 1) % 4, c + k))
        faces += [(0, 1, 2, 3), (24, 27, 26, 25)]
        b.add(verts, parts, faces, by_part)
    return b.verts, b.faces, b.face_materials, b.parts


# -- the 52 shapes ---------------------------------------------------------------------------

def _rotate_x(p, pivot, angle):
    y, z = p[1] - pivot[1], p[2] - pivot[2]
    c, s = math.cos(angle), math.sin(angle)
    return (p[0], pivot[1] + y * c - z * s, pivot[2] + y * s + z * c)


def _rotate_z(p, pivot, angle):
    x, y = p[0] - pivot[0], p[1] - pivot[1]
    c, s = math.cos(angle), math.sin(angle)
    return (pivot[0] + x * c - y * s, pivot[1] + x * s + y * c, p[2])


_MOUTH_PARTS = (LIP_UP, LIP_LO, MOUTH)


def _mouth_weight(p, part, radius=0.45):
    """How much a vertex moves with the mouth: lips and opening fully, nearby skin falling off."""
    if part in _MOUTH_PARTS:
        return 1.0
    if part == SKIN:
        return _near((p[0], p[2]), (0.0, MOUTH_Z), radius) * _smooth(0.1, -0.5, p[1])
    return 0.0


def _lower(p, part) -> float:
    """1 for the lower lip / lower half of the opening / chin, 0 above the mouth line."""
    if part == LIP_LO:
        return 1.0
    if part == LIP_UP:
        return 0.0
    return _smooth(MOUTH_Z + 0.01, MOUTH_Z - 0.04, p[2])


def _corner(p, side) -> float:
    """Weight of a mouth corner on ``side`` (+1 = character's left, +X)."""
    return _smooth(0.02, MOUTH_RX + 0.02, side * p[0]) ** 1.5


def _jaw(p, part, open_=0.0, forward=0.0, sideways=0.0):
    if part in (TONGUE,) or (part in (SKIN, LIP_LO, MOUTH) and _lower(p, part) > 0):
        w = 1.0 if part == TONGUE else _lower(p, part) * (1.0 if part != SKIN else _smooth(0.3, -0.4, p[1]) *
                                                          _smooth(MOUTH_Z + 0.05, MOUTH_Z - 0.15, p[2]))
        q = _rotate_x(p, (0, 0.35, MOUTH_Z + 0.1), 0.32 * open_ * w)  # chin down and back
        return (q[0] + sideways * 0.09 * w, q[1] - forward * 0.08 * w, q[2])
    return p


def _offset(p, w, dx=0.0, dy=0.0, dz=0.0):
    return (p[0] + w * dx, p[1] + w * dy, p[2] + w * dz)


def _mouth_scale(p, part, sx, sz, forward):
    w = _mouth_weight(p, part, 0.35)
    x = p[0] * (1 + (sx - 1) * w)
    z = MOUTH_Z + (p[2] - MOUTH_Z) * (1 + (sz - 1) * w)
    return (x, p[1] - forward * w, z)


def _eye_rotate(p, part, side, pitch=0.0, yaw=0.0):
    if part not in ((EYE_L, PUPIL_L) if side > 0 else (EYE_R_, PUPIL_R)):
        return p
    centre = (side * EYE_X, _skull_front_y(side * EYE_X, EYE_Z) + 0.06, EYE_Z)
    return _rotate_z(_rotate_x(p, centre, pitch), centre, yaw)


def _lid(p, part, side, upper=0.0, lower=0.0):
    lid_up, lid_lo = (LID_UP_L, LID_LO_L) if side > 0 else (LID_UP_R, LID_LO_R)
    centre = (side * EYE_X, _skull_front_y(side * EYE_X, EYE_Z) + 0.06, EYE_Z)
    # upper > 0 closes the upper lid (rotates its front edge down); lower > 0 raises the lower lid.
    if part == lid_up:
        return _rotate_x(p, centre, upper)
    if part == lid_lo:
        return _rotate_x(p, centre, -lower)
    return p


def _brow(p, part, side, inner=0.0, outer=0.0, down=0.0):
    brow = BROW_L if side > 0 else BROW_R
    if part == brow:
        t = min(1.0, max(0.0, (side * p[0] - (EYE_X - 0.15)) / 0.32))  # 0 inner .. 1 outer
        return (p[0] - side * down * 0.03, p[1], p[2] + inner * 0.09 * (1 - t) + outer * 0.09 * t - down * 0.06)
    if part == SKIN:  # the forehead above the brow follows a little
        w = _near((p[0], p[2]), (side * EYE_X, EYE_Z + 0.25), 0.22) * _smooth(0.1, -0.5, p[1]) * 0.5
        t = min(1.0, max(0.0, (side * p[0] - (EYE_X - 0.15)) / 0.32))
        return (p[0], p[1], p[2] + w * (inner * 0.09 * (1 - t) + outer * 0.09 * t - down * 0.05))
    return p


def _lip_side(p, part, side, which, dz):
    """Move one lip (LIP_UP or LIP_LO, with the opening's matching half) on one side."""
    if which == LIP_UP:
        w = 1.0 if part == LIP_UP else (1 - _lower(p, part)) * (part == MOUTH)
    else:
        w = 1.0 if part == LIP_LO else _lower(p, part) * (part == MOUTH)
    w *= _smooth(-0.1, 0.12, side * p[0])
    return _offset(p, w, dz=dz)


def _skin_region(p, part, centre_xz, radius, parts=(SKIN,)):
    if part not in parts:
        return 0.0
    return _near((p[0], p[2]), centre_xz, radius) * _smooth(0.1, -0.5, p[1])


def _shape(name: str, p, part):
    side = 1 if name.endswith("Left") else -1 if name.endswith("Right") else 0
    if name == "jawOpen":
        return _jaw(p, part, open_=1.0)
    if name == "jawForward":
        return _jaw(p, part, forward=1.0)
    if name in ("jawLeft", "jawRight"):
        return _jaw(p, part, sideways=1.0 if name == "jawLeft" else -1.0)
    if name == "mouthClose":
        # Lips together against an open jaw: the lower lip undoes jawOpen's drop (alone, as in
        # ARKit, it pushes the lower lip up into the upper one).
        if part in (LIP_LO, MOUTH) and _lower(p, part) > 0:
            w = _lower(p, part)
            q = _rotate_x(p, (0, 0.35, MOUTH_Z + 0.1), -0.32 * w)
            return _offset(q, 1.0, dz=-0.01)
        return _offset(p, (part == LIP_UP) + (part == MOUTH) * (1 - _lower(p, part)), dz=-0.02)
    if name == "mouthFunnel":
        return _mouth_scale(p, part, 0.72, 2.4, 0.07)
    if name == "mouthPucker":
        return _mouth_scale(p, part, 0.5, 0.7, 0.1)
    if name in ("mouthLeft", "mouthRight"):
        return _offset(p, _mouth_weight(p, part, 0.4), dx=0.1 if name == "mouthLeft" else -0.1)
    if name.startswith("mouthSmile"):
        w = _mouth_weight(p, part) * _corner(p, side)
        return _offset(p, w, dx=side * 0.05, dz=0.08, dy=0.02)
    if name.startswith("mouthFrown"):
        return _offset(p, _mouth_weight(p, part) * _corner(p, side), dz=-0.08)
    if name.startswith("mouthDimple"):
        return _offset(p, _mouth_weight(p, part) * _corner(p, side), dx=side * 0.05, dy=0.06)
    if name.startswith("mouthStretch"):
        return _offset(p, _mouth_weight(p, part) * _corner(p, side), dx=side * 0.08, dz=-0.03)
    if name == "mouthRollLower":  # the lower lip turns in: back, up, and thinner
        w = (part == LIP_LO) + (part == MOUTH) * _lower(p, part)
        q = _offset(p, w, dy=0.06, dz=0.035)
        return (q[0], q[1], q[2] + w * 0.5 * (MOUTH_Z - 0.03 - q[2]) * (part == LIP_LO))
    if name == "mouthRollUpper":
        w = (part == LIP_UP) + (part == MOUTH) * (1 - _lower(p, part))
        q = _offset(p, w, dy=0.06, dz=-0.035)
        return (q[0], q[1], q[2] + w * 0.5 * (MOUTH_Z + 0.03 - q[2]) * (part == LIP_UP))
    if name == "mouthShrugLower":
        w = _mouth_weight(p, part) * _lower(p, part)
        return _offset(p, w, dz=0.05, dy=-0.03)
    if name == "mouthShrugUpper":
        w = _mouth_weight(p, part) * (1 - _lower(p, part))
        return _offset(p, w, dz=0.04, dy=-0.02)
    if name.startswith("mouthPress"):
        q = _lip_side(p, part, side, LIP_UP, -0.045)
        return _lip_side(q, part, side, LIP_LO, 0.045)
    if name.startswith("mouthLowerDown"):
        return _lip_side(p, part, side, LIP_LO, -0.07)
    if name.startswith("mouthUpperUp"):
        return _lip_side(p, part, side, LIP_UP, 0.07)
    if name == "tongueOut":
        w = 1.0 if part == TONGUE else 0.0
        q = _jaw(p, part, open_=0.35) if part in (TONGUE, LIP_LO, MOUTH, SKIN) else p
        return _offset(q, w, dy=-0.2, dz=-0.02)
    if name == "cheekPuff":
        w = max(_skin_region(p, part, (0.42, -0.3), 0.3), _skin_region(p, part, (-0.42, -0.3), 0.3))
        return (p[0] * (1 + 0.2 * w), p[1] - 0.08 * w, p[2])
    if name.startswith("cheekSquint"):
        return _offset(p, _skin_region(p, part, (side * 0.38, -0.1), 0.22), dz=0.05, dy=-0.01)
    if name.startswith("noseSneer"):
        w = max(_skin_region(p, part, (side * 0.1, -0.12), 0.15, (SKIN, NOSE)),
                (part == NOSE) * _smooth(-0.05, 0.1, side * p[0]))
        return _offset(p, w, dz=0.05, dx=side * 0.02)
    if name.startswith("eyeBlink"):
        return _lid(p, part, side, upper=1.15, lower=0.1)
    if name.startswith("eyeSquint"):
        return _lid(p, part, side, upper=0.3, lower=0.5)
    if name.startswith("eyeWide"):
        return _lid(p, part, side, upper=-0.35, lower=-0.15)
    if name.startswith("eyeLookUp"):
        return _lid(_eye_rotate(p, part, side, pitch=-0.35), part, side, upper=-0.15)
    if name.startswith("eyeLookDown"):
        return _lid(_eye_rotate(p, part, side, pitch=0.35), part, side, upper=0.35)
    if name.startswith("eyeLookIn"):  # toward the nose (-X for the left eye)
        return _eye_rotate(p, part, side, yaw=-side * 0.4)
    if name.startswith("eyeLookOut"):
        return _eye_rotate(p, part, side, yaw=side * 0.4)
    if name == "browInnerUp":
        return _brow(_brow(p, part, 1, inner=1.0), part, -1, inner=1.0)
    if name.startswith("browDown"):
        return _brow(p, part, side, down=1.0)
    if name.startswith("browOuterUp"):
        return _brow(p, part, side, outer=1.0)
    raise KeyError(name)


def shape_positions(name: str, verts, parts):
    """Every vertex's position in the ARKit shape ``name`` at value 1."""
    return [_shape(name, p, part) for p, part in zip(verts, parts)]


def all_shapes(verts, parts) -> dict[str, list]:
    return {name: shape_positions(name, verts, parts) for name in arkit.CHANNELS}
