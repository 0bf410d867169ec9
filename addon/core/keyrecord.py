"""Which of Mouthpiece's own keys the animator has moved or reshaped since they were written.

A Generated key stays Generated when the animator drags it (G), changes its value, its
interpolation or its handles; replacing it at the next run would silently undo that decision. So
each write records the state of every key it leaves (``KeyState``), and before the next job a
Generated key whose state differs from its record is *touched*: the job treats it as a pin and
the writer turns it into one (keyframe type Keyframe), and the report says so.

A curve without any record (written before records existed, or by another tool that marks keys
Generated) is taken as untouched: nothing can be told, and turning every key into a pin would be
worse. Pure standard-library code; the bpy side (addon/blender/generated.py) stores records as
flat float lists in an ID property of the Action.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

FRAME_EPS = 1e-3   # a key moved by less than this in time is at the same frame
VALUE_EPS = 1e-5   # float32 storage of values and handles is ~1e-7
AUTO_TYPES = ("AUTO", "AUTO_CLAMPED")  # Blender recomputes these handles: their positions say nothing
FIELDS = 9


@dataclass(frozen=True)
class KeyState:
    frame: float
    value: float
    interpolation: int
    left_type: int
    right_type: int
    left: tuple[float, float]
    right: tuple[float, float]

    def flat(self) -> list[float]:
        return [self.frame, self.value, float(self.interpolation), float(self.left_type), float(self.right_type),
                *self.left, *self.right]

    @classmethod
    def from_flat(cls, v: Sequence[float]) -> "KeyState":
        return cls(v[0], v[1], int(v[2]), int(v[3]), int(v[4]), (v[5], v[6]), (v[7], v[8]))


def frame_slot(frame: float) -> int:
    """The record's dictionary key for a key at ``frame``."""
    return int(round(frame / FRAME_EPS))


def decode(flat: Sequence[float]) -> dict[int, KeyState]:
    if len(flat) % FIELDS:
        raise ValueError(f"a key record has {len(flat)} numbers, not a multiple of {FIELDS}")
    states = (KeyState.from_flat(flat[i:i + FIELDS]) for i in range(0, len(flat), FIELDS))
    return {frame_slot(s.frame): s for s in states}


def encode(record: dict[int, KeyState]) -> list[float]:
    return [x for slot in sorted(record) for x in record[slot].flat()]


def same_state(a: KeyState, b: KeyState, auto_types: Iterable[int]) -> bool:
    auto = set(auto_types)
    if abs(a.frame - b.frame) > FRAME_EPS or abs(a.value - b.value) > VALUE_EPS:
        return False
    if (a.interpolation, a.left_type, a.right_type) != (b.interpolation, b.left_type, b.right_type):
        return False
    for side_type, (pa, pb) in ((a.left_type, (a.left, b.left)), (a.right_type, (a.right, b.right))):
        if side_type not in auto and max(abs(pa[0] - pb[0]), abs(pa[1] - pb[1])) > VALUE_EPS:
            return False
    return True


def touched(record: dict[int, KeyState] | None, generated: Iterable[KeyState],
            auto_types: Iterable[int]) -> list[KeyState]:
    """The Generated keys whose state is not what the last write left (none without a record)."""
    if record is None:
        return []
    auto = tuple(auto_types)
    out = []
    for state in generated:
        before = record.get(frame_slot(state.frame))
        if before is None or not same_state(before, state, auto):
            out.append(state)
    return out


def updated(record: dict[int, KeyState] | None, generated: Iterable[KeyState], start: float, end: float,
            neighbours: Iterable[float] = (), untouched: Iterable[float] = ()) -> dict[int, KeyState]:
    """The record after a write over [start, end] (the reach, half frames included).

    Inside the reach, every Generated key is as Mouthpiece left it. Outside it, a record entry is
    renewed only for ``neighbours`` (the keys whose handles the write itself held) that were
    ``untouched`` before; other entries stay as they were, so a key the animator moved outside the
    range is still told apart later. Entries without a key any more are dropped.
    """
    old = dict(record or {})
    renew = {frame_slot(f) for f in neighbours} & {frame_slot(f) for f in untouched}
    out: dict[int, KeyState] = {}
    for state in generated:
        slot = frame_slot(state.frame)
        if start - FRAME_EPS <= state.frame <= end + FRAME_EPS or slot in renew or record is None:
            out[slot] = state
        elif slot in old:
            out[slot] = old[slot]
    return out
