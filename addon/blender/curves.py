"""Reading and writing shape-key F-curves (``key_blocks["<name>"].value`` on the mesh's Key).

Writing replaces the keys inside a frame range and touches nothing else: keys outside the
range, other channels and other F-curves keep every property. New keys are Bezier keys with
AUTO_CLAMPED handles and the keyframe type GENERATED, which is how Mouthpiece tells its own keys
from the animator's: any other key on a mapped channel is a pin. Key positions come from
``addon.core.keyreduce``; a last pass evaluates the written F-curve in Blender and adds a key
wherever the curve misses a sample by more than the tolerance (curves an animator set to
Continuous Acceleration smoothing, or keys just outside the range, shape the curve differently
from the reducer's model).
"""

from __future__ import annotations

from dataclasses import dataclass

import bpy

from ..core import keyreduce
from . import compat

GENERATED = "GENERATED"
_SLACK = 1e-6  # float32 storage of key values


def data_path(shape_key_name: str) -> str:
    return f'key_blocks["{bpy.utils.escape_identifier(shape_key_name)}"].value'


def find_fcurve(key, shape_key_name: str):
    ad = key.animation_data
    if ad is None or ad.action is None:
        return None
    fcurves = compat.fcurves_of(ad.action, key)
    return None if fcurves is None else fcurves.find(data_path(shape_key_name))


def ensure_fcurve(key, shape_key_name: str, action=None):
    """The F-curve for a shape key in ``action`` (default: the key's action, made if missing)."""
    if action is None:
        ad = key.animation_data or key.animation_data_create()
        if ad.action is None:
            compat.assign_action(key, compat.new_action_for(key, f"{key.name}Action"))
        action = ad.action
    fcurves = compat.fcurves_of(action, key, create=True)
    path = data_path(shape_key_name)
    fcurve = fcurves.find(path)
    if fcurve is None:
        fcurve = fcurves.new(path)
        # The documented handle scheme of keyreduce: local auto-clamped handles.
        fcurve.auto_smoothing = "NONE"
    return fcurve


@dataclass(frozen=True)
class Pin:
    frame: float
    value: float


def pins_in_range(fcurve, start: float, end: float) -> list[Pin]:
    """The animator's keys (any type but GENERATED) within [start, end]."""
    if fcurve is None:
        return []
    return [Pin(kp.co[0], kp.co[1]) for kp in fcurve.keyframe_points
            if start - 0.5 < kp.co[0] < end + 0.5 and kp.type != GENERATED]


def sample(key, shape_key_name: str, start: int, end: int) -> list[float]:
    """The channel's value at each frame of [start, end]: its F-curve, else the slider value."""
    fcurve = find_fcurve(key, shape_key_name)
    if fcurve is None or not len(fcurve.keyframe_points):
        block = key.key_blocks.get(shape_key_name)
        value = block.value if block is not None else 0.0
        return [value] * (end - start + 1)
    return [fcurve.evaluate(f) for f in range(start, end + 1)]


def _remove_keys_in_range(fcurve, start: float, end: float, keep_pins: bool) -> None:
    points = fcurve.keyframe_points
    for i in range(len(points) - 1, -1, -1):
        kp = points[i]
        if start - 0.5 < kp.co[0] < end + 0.5 and not (keep_pins and kp.type != GENERATED):
            points.remove(kp, fast=True)


def _append_keys(fcurve, frames: list[float], values: list[float]) -> None:
    """Append Bezier/AUTO_CLAMPED/GENERATED keys in bulk, leaving the existing keys as they are."""
    points = fcurve.keyframe_points
    old = len(points)
    count = len(frames)
    if not count:
        return
    points.add(count)
    total = old + count
    co = [0.0] * (2 * total)
    points.foreach_get("co", co)
    co[2 * old:] = [c for pair in zip(frames, values) for c in pair]
    points.foreach_set("co", co)
    for prop, name in (("interpolation", "BEZIER"), ("handle_left_type", "AUTO_CLAMPED"),
                       ("handle_right_type", "AUTO_CLAMPED"), ("type", GENERATED)):
        current = [0] * total
        points.foreach_get(prop, current)
        current[old:] = [compat.keyframe_enum(prop, name)] * count
        points.foreach_set(prop, current)
    # New keys come unselected: a selection of keys is how the animator picks a range to redo.
    for prop in ("select_control_point", "select_left_handle", "select_right_handle"):
        flags = [False] * total
        points.foreach_get(prop, flags)
        flags[old:] = [False] * count
        points.foreach_set(prop, flags)
    # New keys' handles start at their key (foreach_set does not place them); update() then
    # sorts by frame and recomputes the auto handles.
    for prop in ("handle_left", "handle_right"):
        handles = [0.0] * (2 * total)
        points.foreach_get(prop, handles)
        handles[2 * old:] = co[2 * old:]
        points.foreach_set(prop, handles)


def write_range(fcurve, start: int, values: list[float], tolerance: float | None, keep_pins: bool) -> int:
    """Replace the keys in [start, start + len(values) - 1] with ``values`` (one per frame).

    ``tolerance`` None writes every frame. With ``keep_pins`` the animator's keys in the range
    stay exactly as they are (the values there should already equal them). Returns the number
    of keys written.
    """
    end = start + len(values) - 1
    pins = pins_in_range(fcurve, start, end) if keep_pins else []
    pin_offsets = sorted({int(round(p.frame - start)) for p in pins})
    _remove_keys_in_range(fcurve, start, end, keep_pins)
    if tolerance is None:
        chosen = list(range(len(values)))
    else:
        chosen = keyreduce.reduce_keys(values, tolerance, keep=pin_offsets)
    pinned = set(pin_offsets)
    chosen = [i for i in chosen if i not in pinned]
    _append_keys(fcurve, [float(start + i) for i in chosen], [values[i] for i in chosen])
    fcurve.update()
    written = len(chosen)
    if tolerance is not None:
        written += _meet_tolerance(fcurve, start, values, tolerance, pinned)
    return written


def _meet_tolerance(fcurve, start: int, values: list[float], tolerance: float, pinned: set[int]) -> int:
    """Key the frames where Blender's evaluated curve misses its sample; returns keys added."""
    added = 0
    while True:
        misses = [i for i, v in enumerate(values)
                  if i not in pinned and abs(fcurve.evaluate(start + i) - v) > tolerance + _SLACK]
        if not misses:
            return added
        existing = {int(round(kp.co[0])) - start for kp in fcurve.keyframe_points}
        fresh = [i for i in misses if i not in existing]
        if not fresh:
            # A missed frame already holds a key whose value differs (a key outside our control):
            # nothing more to add.
            return added
        # Key the worst miss of each run of consecutive misses, then look again.
        runs, run = [], [fresh[0]]
        for i in fresh[1:]:
            if i == run[-1] + 1:
                run.append(i)
            else:
                runs.append(run)
                run = [i]
        runs.append(run)
        worst = [max(r, key=lambda i: abs(fcurve.evaluate(start + i) - values[i])) for r in runs]
        _append_keys(fcurve, [float(start + i) for i in worst], [values[i] for i in worst])
        fcurve.update()
        added += len(worst)


def copy_range(source, target, start: float, end: float) -> None:
    """Make ``target``'s keys in [start, end] exactly ``source``'s (all key properties)."""
    _remove_keys_in_range(target, start, end, keep_pins=False)
    keys = [kp for kp in source.keyframe_points if start - 0.5 < kp.co[0] < end + 0.5]
    points = target.keyframe_points
    for kp in keys:
        new = points.insert(kp.co[0], kp.co[1], options={"FAST"}, keyframe_type=kp.type)
        for prop in ("interpolation", "easing", "handle_left_type", "handle_right_type"):
            setattr(new, prop, getattr(kp, prop))
        new.handle_left = kp.handle_left
        new.handle_right = kp.handle_right
    target.update()
