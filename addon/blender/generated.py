"""Records of the keys Mouthpiece wrote, kept in the Action, to tell which the animator touched.

The logic is in ``addon.core.keyrecord``; this module reads key states from F-curves in bulk
(``foreach_get``) and stores each curve's record as a flat float list in the Action's ID property
``mouthpiece_keys[<Key name>][<shape key name>]`` (ID property names are at most 63 bytes, as are
Blender's names, so the two levels always fit). The record travels with the Action: take copies,
undo, save and reload.
"""

from __future__ import annotations

from ..core import keyrecord
from ..core.keyrecord import KeyState
from . import compat

RECORD = "mouthpiece_keys"
GENERATED = "GENERATED"


def _enum(prop: str, name: str) -> int:
    return compat.keyframe_enum(prop, name)


def auto_types() -> tuple[int, ...]:
    return tuple(_enum("handle_left_type", name) for name in keyrecord.AUTO_TYPES)


def generated_states(fcurve) -> list[KeyState]:
    """The state of every Generated key of ``fcurve``, read in bulk."""
    points = fcurve.keyframe_points
    n = len(points)
    if not n:
        return []
    pairs = {}
    for prop in ("co", "handle_left", "handle_right"):
        values = [0.0] * (2 * n)
        points.foreach_get(prop, values)
        pairs[prop] = values
    ints = {}
    for prop in ("type", "interpolation", "handle_left_type", "handle_right_type"):
        values = [0] * n
        points.foreach_get(prop, values)
        ints[prop] = values
    generated = _enum("type", GENERATED)
    co, hl, hr = pairs["co"], pairs["handle_left"], pairs["handle_right"]
    return [KeyState(co[2 * i], co[2 * i + 1], ints["interpolation"][i], ints["handle_left_type"][i],
                     ints["handle_right_type"][i], (hl[2 * i], hl[2 * i + 1]), (hr[2 * i], hr[2 * i + 1]))
            for i in range(n) if ints["type"][i] == generated]


def load(action, key, shape_key: str) -> dict | None:
    group = action.get(RECORD) if action is not None else None
    per_key = group.get(key.name) if group is not None else None
    flat = per_key.get(shape_key) if per_key is not None else None
    return None if flat is None else keyrecord.decode(list(flat))


def store(action, key, shape_key: str, record: dict) -> None:
    if RECORD not in action:
        action[RECORD] = {}
    group = action[RECORD]
    if key.name not in group:
        group[key.name] = {}
    group[key.name][shape_key] = keyrecord.encode(record)


def touched(action, key, shape_key: str, fcurve) -> list[KeyState]:
    """The Generated keys of ``fcurve`` the animator moved or reshaped since Mouthpiece wrote them."""
    if fcurve is None:
        return []
    return keyrecord.touched(load(action, key, shape_key), generated_states(fcurve), auto_types())


def make_pins(fcurve, frames) -> None:
    """Turn the keys at ``frames`` into the animator's keys (keyframe type Keyframe)."""
    wanted = {keyrecord.frame_slot(f) for f in frames}
    for kp in fcurve.keyframe_points:
        if keyrecord.frame_slot(kp.co[0]) in wanted:
            kp.type = "KEYFRAME"


def neighbours(fcurve, start: float, end: float) -> list[float]:
    """Frames of the nearest keys outside the reach [start, end]: those a write holds."""
    frames = [kp.co[0] for kp in fcurve.keyframe_points]
    before = [f for f in frames if f < start - keyrecord.FRAME_EPS]
    after = [f for f in frames if f > end + keyrecord.FRAME_EPS]
    return ([max(before)] if before else []) + ([min(after)] if after else [])


class CurveWrite:
    """Renews a curve's record around one write: construct before the write, ``commit`` after."""

    def __init__(self, action, key, shape_key: str, fcurve, start: float, end: float):
        self.action, self.key, self.shape_key, self.fcurve = action, key, shape_key, fcurve
        self.start, self.end = start, end
        self.record = load(action, key, shape_key)
        self.neighbours = neighbours(fcurve, start, end)
        states = generated_states(fcurve)
        moved = {keyrecord.frame_slot(s.frame) for s in keyrecord.touched(self.record, states, auto_types())}
        self.untouched = [s.frame for s in states if keyrecord.frame_slot(s.frame) not in moved]

    def commit(self) -> None:
        record = keyrecord.updated(self.record, generated_states(self.fcurve), self.start, self.end,
                                   self.neighbours, self.untouched)
        store(self.action, self.key, self.shape_key, record)


def action_of(key):
    ad = key.animation_data
    return ad.action if ad is not None else None

