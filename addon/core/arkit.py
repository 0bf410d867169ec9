"""The ARKit blendshape channel contract: the 52 names, their groups, and name matching.

This is the one place in Mouthpiece that lists the channels. It is standard-library
Python so that the Blender add-on (Blender's own Python) and the sidecar (torch) share it.
"""

from __future__ import annotations

import re

# Apple's ARFaceAnchor.BlendShapeLocation names, in the order Live Link Face writes them.
CHANNELS: tuple[str, ...] = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft",
    "eyeSquintLeft", "eyeWideLeft",
    "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight",
    "eyeSquintRight", "eyeWideRight",
    "jawForward", "jawRight", "jawLeft", "jawOpen",
    "mouthClose", "mouthFunnel", "mouthPucker", "mouthRight", "mouthLeft",
    "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthUpperUpLeft", "mouthUpperUpRight",
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "noseSneerLeft", "noseSneerRight",
    "tongueOut",
)
NUM_CHANNELS = len(CHANNELS)
INDEX: dict[str, int] = {name: i for i, name in enumerate(CHANNELS)}

# Channel groups, by what an animator thinks of as one part of the face.
GROUPS: dict[str, tuple[str, ...]] = {
    "jaw_mouth": tuple(n for n in CHANNELS if n.startswith(("jaw", "mouth"))),
    "eyes": tuple(n for n in CHANNELS if n.startswith("eye")),
    "brows": tuple(n for n in CHANNELS if n.startswith("brow")),
    "cheeks_nose": tuple(n for n in CHANNELS if n.startswith(("cheek", "nose"))),
    "tongue": ("tongueOut",),
}
# The lower face that speech drives, and the upper face it leaves free.
SPEECH_CHANNELS: tuple[str, ...] = GROUPS["jaw_mouth"] + GROUPS["tongue"]
UPPER_FACE_CHANNELS: tuple[str, ...] = GROUPS["eyes"] + GROUPS["brows"] + GROUPS["cheeks_nose"]


def group_of(name: str) -> str:
    """The group a canonical channel name belongs to."""
    for group, names in GROUPS.items():
        if name in names:
            return group
    raise KeyError(name)


def _normalise_side(name: str) -> str:
    """Rewrite side markers (_L/_R, .L/.R, L_/R_, left_/right_, ...) into a trailing Left/Right."""
    s = name.strip()
    side = ""
    patterns = (
        (r"^(?:L|Left|left|l)[_.\- ](.+)$", "Left"),
        (r"^(?:R|Right|right|r)[_.\- ](.+)$", "Right"),
        (r"^(.+?)[_.\- ](?:L|l|Left|left|LEFT)$", "Left"),
        (r"^(.+?)[_.\- ](?:R|r|Right|right|RIGHT)$", "Right"),
        (r"^(.+?)(?:Left|LEFT)$", "Left"),
        (r"^(.+?)(?:Right|RIGHT)$", "Right"),
        (r"^(.+?[a-z])L$", "Left"),
        (r"^(.+?[a-z])R$", "Right"),
    )
    for pattern, which in patterns:
        m = re.match(pattern, s)
        if m:
            s, side = m.group(1), which
            break
    return s + side


def _key(name: str) -> str:
    """A comparison key: sides normalised, separators dropped, case folded."""
    return re.sub(r"[^0-9a-z]", "", _normalise_side(name).lower())


_BY_KEY: dict[str, str] = {_key(n): n for n in CHANNELS}
# A few prefixes rigs put in front of every shape key name.
_PREFIXES = ("arkit", "blendshape", "shape", "bs", "key", "sk")


def canonical_name(name: str) -> str | None:
    """The ARKit channel a shape-key or column name stands for, or None.

    Accepts lowerCamelCase, Live Link Face PascalCase, snake_case, any case, and side
    markers as Left/Right, _L/_R, .L/.R, L_/R_; a rig-wide prefix such as ``ARKit_`` or
    ``blendShape.`` is ignored.
    """
    key = _key(name)
    if key in _BY_KEY:
        return _BY_KEY[key]
    # Strip a leading namespace ("Face.", "blendShape1.", "ARKit_") and try again.
    for sep in (".", ":", "|"):
        if sep in name:
            tail = name.rsplit(sep, 1)[1]
            if tail and tail not in ("L", "R", "l", "r"):
                found = _BY_KEY.get(_key(tail))
                if found:
                    return found
    for prefix in _PREFIXES:
        if key.startswith(prefix) and key[len(prefix):] in _BY_KEY:
            return _BY_KEY[key[len(prefix):]]
    return None


def match_names(names) -> dict[str, str]:
    """Map ARKit channel -> the first of ``names`` that stands for it (exact names win)."""
    mapping: dict[str, str] = {}
    names = list(names)
    for n in names:
        if n in INDEX and n not in mapping:
            mapping[n] = n
    for n in names:
        c = canonical_name(n)
        if c is not None and c not in mapping:
            mapping[c] = n
    return mapping


def pascal_case(name: str) -> str:
    """Live Link Face's spelling of a channel: ``jawOpen`` -> ``JawOpen``."""
    return name[0].upper() + name[1:]
