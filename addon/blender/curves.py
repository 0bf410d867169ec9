"""Reading and writing shape-key F-curves (``key_blocks["<name>"].value`` on the mesh's Key).

Writing replaces the keys inside a frame range and leaves the curve outside it exactly as it was,
evaluated values included. The range reaches half a frame past its first and last frame (the
keys it replaces are those within that reach). New keys are Bezier keys with AUTO_CLAMPED handles
and the keyframe type GENERATED, which is how Mouthpiece tells its own keys from the animator's:
any other key on a mapped channel is a pin. Key positions and values come from
``addon.core.keyreduce``, which models Blender's curve exactly from the keys it places; a last
pass evaluates the written F-curve in Blender where that model cannot know it (next to the keys
outside the range and to the pins, whose handles are not the reducer's; everywhere on curves an
animator set to Continuous Acceleration smoothing) and adds a key wherever the curve misses a
sample by more than the tolerance.

Holding the edges: a Bezier segment that crosses an edge of the range, from the last key outside
to a key inside that is about to be replaced, would be reshaped by the new keys, and so would the
auto handles of that outside key (Blender recomputes them from the neighbours). So before the
keys inside are removed, the segment is cut at the edge (``addon.core.bezier``): a GENERATED key
with collinear FREE handles is put at start - 0.5 (end + 0.5) on the old curve, the outside key's
handle facing it is shortened to match, and an outside key with auto handles gets handle types
that keep them where they are (ALIGNED). The edge key's handle into the range points along the
old curve's slope, so the new curve joins without a kink. Linear and constant segments and the
extrapolation past the first or last key are held the same way on their straight line.
"""

from __future__ import annotations

from dataclasses import dataclass

import bpy

from ..core import bezier, keyreduce
from ..core.keyreduce import BezierKey
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


# Keyframe properties a copied key takes over, with the kind of value foreach_get gives.
_KEY_PROPS = {"co": 0.0, "handle_left": 0.0, "handle_right": 0.0, "interpolation": 0, "easing": 0,
              "handle_left_type": 0, "handle_right_type": 0, "type": 0, "back": 0.0, "amplitude": 0.0,
              "period": 0.0}
_PAIRS = ("co", "handle_left", "handle_right")
_UNSELECTED = ("select_control_point", "select_left_handle", "select_right_handle")


def _add_keys(fcurve, new: dict[str, list]) -> None:
    """Append keys in bulk, leaving the existing keys as they are: ``new`` maps Keyframe
    properties to the new keys' values (``co`` and the handles flattened, two per key). Unlike
    ``keyframe_points.insert`` this never reshapes the neighbours' handles, and the keys come
    unselected (a selection of keys is how the animator picks a range to redo)."""
    points = fcurve.keyframe_points
    old = len(points)
    count = len(new["co"]) // 2
    if not count:
        return
    points.add(count)
    total = old + count
    for prop, values in {**new, **{flag: [False] * count for flag in _UNSELECTED}}.items():
        width = 2 if prop in _PAIRS else 1
        current = [type(values[0])()] * (width * total)
        points.foreach_get(prop, current)
        current[width * old:] = values
        points.foreach_set(prop, current)


def _append_keys(fcurve, frames: list[float], values: list[float], *, handle_type: str = "AUTO_CLAMPED",
                 interpolations: list[str] | None = None, lefts: list[bezier.Point] | None = None,
                 rights: list[bezier.Point] | None = None) -> None:
    """Append GENERATED keys (Bezier with AUTO_CLAMPED handles unless told otherwise)."""
    count = len(frames)
    co = [float(c) for pair in zip(frames, values) for c in pair]
    enum = compat.keyframe_enum
    # Auto handles start at their key (update() then sorts by frame and recomputes them); given
    # handles are set as they are.
    _add_keys(fcurve, {
        "co": co,
        "interpolation": [enum("interpolation", name) for name in interpolations or ["BEZIER"] * count],
        "handle_left_type": [enum("handle_left_type", handle_type)] * count,
        "handle_right_type": [enum("handle_right_type", handle_type)] * count,
        "type": [enum("type", GENERATED)] * count,
        "handle_left": co if lefts is None else [c for point in lefts for c in point],
        "handle_right": co if rights is None else [c for point in rights for c in point],
    })


@dataclass(frozen=True)
class _Hold:
    """How one edge of a range is held (planned before the keys in the range are removed)."""

    frame: float                          # start - 0.5 or end + 0.5
    side: int                             # -1: the edge before the range, +1: the edge after it
    key: BezierKey | None                 # the key to add at the edge (None: none to add)
    interpolation: str                    # the added key's (it starts the segment after it)
    neighbour: float | None = None        # frame of the outside key whose handles are kept
    neighbour_handle: bezier.Point | None = None  # its new handle facing the range, if it changes
    neighbour_types: tuple[str, str] | None = None  # its handle types (left, right)
    joins: bool = True                    # the key at the edge gets a handle into the range


def _key_at(points, frame: float):
    for kp in points:
        if kp.co[0] == frame:
            return kp
    return None


def _state(kp) -> BezierKey:
    return BezierKey(tuple(kp.co), tuple(kp.handle_left), tuple(kp.handle_right))


def _on_line(co: bezier.Point, handle: bezier.Point, slope: float) -> bool:
    return abs(handle[1] - (co[1] + slope * (handle[0] - co[0]))) <= 1e-9


def _plan_hold(fcurve, edge: float, side: int, extrapolated: bool, keep_pins: bool) -> _Hold | None:
    """How to hold the curve outside ``edge`` (side -1: before it, +1: after it) while the keys
    on the other side are replaced. ``extrapolated``: hold it also where only the extrapolation
    past the first or last key defines it. ``keep_pins``: the animator's keys on the other side stay."""
    points = fcurve.keyframe_points
    frames = [kp.co[0] for kp in points]
    outside = [i for i, x in enumerate(frames) if (x <= edge if side < 0 else x >= edge)]
    inside = [i for i, x in enumerate(frames) if (x > edge if side < 0 else x < edge)]
    near_out = (max if side < 0 else min)(outside, key=frames.__getitem__) if outside else None
    near_in = (min if side < 0 else max)(inside, key=frames.__getitem__) if inside else None
    if near_out is None:
        if not extrapolated or near_in is None:
            return None
        end_kp = points[near_in]
        if (fcurve.extrapolation == "CONSTANT" and keep_pins and end_kp.type != GENERATED
                and int(round(end_kp.co[0] - (edge - side * 0.5))) == 0):
            return None  # a pin on the range's first (last) frame stays the end key: nothing changes
        # Only the extrapolation past the first (last) key, which is inside, defines the outside:
        # the edge key takes its place with its outward handle along the extrapolated line.
        value, slope = _extrapolation(fcurve, end_kp, edge, side)
        return _Hold(edge, side, _line_key(edge, value, slope, 1.0 / 3.0), "BEZIER")
    out_kp = points[near_out]
    out_frame = out_kp.co[0]
    held = bezier.held_handle_types(_state(out_kp), out_kp.handle_left_type, out_kp.handle_right_type)
    if out_frame == edge:  # a key already holds this edge (an earlier edit's)
        return _Hold(edge, side, None, "BEZIER", edge, None, held)
    reach = abs(edge - out_frame) / 3.0
    if near_in is None:
        # The outside near the edge is the straight extrapolation past this last (first) key.
        value, slope = _extrapolation(fcurve, out_kp, edge, -side)
        facing = tuple(out_kp.handle_right if side < 0 else out_kp.handle_left)
        # The segment between this key and the edge key is Bezier (the edge key's own
        # interpolation after the range, this key's before it) unless this key says otherwise.
        bezier_segment = side > 0 or out_kp.interpolation == "BEZIER"
        new_facing = None
        if bezier_segment and not _on_line(tuple(out_kp.co), facing, slope):
            new_facing = bezier.handle_along(tuple(out_kp.co), slope, -side * reach)
        return _Hold(edge, side, _line_key(edge, value, slope, reach), "BEZIER", out_frame, new_facing, held)
    first, second = sorted((out_kp, points[near_in]), key=lambda kp: kp.co[0])
    interpolation = first.interpolation
    if interpolation == "BEZIER":
        split = bezier.split_segment(_state(first), _state(second), edge)
        # The outside piece as float32 stores it closest to the exact one; the edge key's handle
        # into the range is a placeholder until _join_holds.
        if side < 0:
            piece = bezier.stored_piece(split.before, free=2)
            key, facing = BezierKey(piece[3], piece[2], split.key.right), piece[1]
        else:
            piece = bezier.stored_piece(split.after, free=1)
            key, facing = BezierKey(piece[0], split.key.left, piece[1]), piece[2]
        return _Hold(edge, side, key, "BEZIER", out_frame, facing, held)
    if interpolation in ("LINEAR", "CONSTANT"):
        (x0, y0), (x1, y1) = first.co, second.co
        slope = 0.0 if interpolation == "CONSTANT" else (y1 - y0) / (x1 - x0)
        # After the range the edge key starts the outside segment, so it takes its interpolation.
        return _Hold(edge, side, _line_key(edge, y0 + slope * (edge - x0), slope, reach),
                     "BEZIER" if side < 0 else interpolation, out_frame, None, held)
    # An eased segment (Sine, Bounce, ...) cannot be cut without changing it: only the outside
    # key's handles are kept (a documented limit).
    return _Hold(edge, side, None, "BEZIER", out_frame, None, held, joins=False)


def _extrapolation(fcurve, end_kp, edge: float, away: int) -> tuple[float, float]:
    """(value at ``edge``, slope) of the straight extrapolation past the curve's first or last
    key ``end_kp``; ``edge`` lies beyond it, and so does ``edge + away``."""
    if fcurve.extrapolation == "CONSTANT":
        return end_kp.co[1], 0.0
    value = fcurve.evaluate(edge)
    return value, (fcurve.evaluate(edge + away) - value) / away


def _line_key(frame: float, value: float, slope: float, reach: float) -> BezierKey:
    """A key on a straight line with both handles along it, ``reach`` frames long."""
    co = (frame, value)
    return BezierKey(co, bezier.handle_along(co, slope, -reach), bezier.handle_along(co, slope, reach))


def _plan_holds(fcurve, start: float, end: float, context: tuple[int, int] | None, keep_pins: bool) -> list[_Hold]:
    holds = []
    for edge, side, beyond in ((start - 0.5, -1, context is not None and context[0] < start),
                               (end + 0.5, 1, context is not None and context[1] > end)):
        hold = _plan_hold(fcurve, edge, side, beyond, keep_pins)
        if hold is not None:
            holds.append(hold)
    return holds


def _apply_holds(fcurve, holds: list[_Hold]) -> int:
    """Keep the outside keys' handles and add the edge keys (after the range's keys are
    removed). Returns the number of keys added."""
    points = fcurve.keyframe_points
    for hold in holds:
        if hold.neighbour is None:
            continue
        kp = _key_at(points, hold.neighbour)
        if hold.neighbour_types is not None:
            kp.handle_left_type, kp.handle_right_type = hold.neighbour_types
        if hold.neighbour_handle is not None:
            if hold.side < 0:
                kp.handle_right = hold.neighbour_handle
            else:
                kp.handle_left = hold.neighbour_handle
    added = [hold for hold in holds if hold.key is not None]
    # FREE, though the two handles are collinear: Blender re-aligns ALIGNED handles on every
    # update by recomputing this key's left handle from its right one in float32, which would
    # turn the outward handle by the inward one's rounding (up to 2e-5 in value outside at frame
    # 1000); and dragging the inward handle can never move the curve outside.
    _append_keys(fcurve, [h.key.co[0] for h in added], [h.key.co[1] for h in added], handle_type="FREE",
                 interpolations=[h.interpolation for h in added], lefts=[h.key.left for h in added],
                 rights=[h.key.right for h in added])
    return len(added)


def _join_holds(fcurve, holds: list[_Hold]) -> None:
    """Point each edge key's handle into the range along the old curve's slope, a third of the
    way to the first key inside (after the keys inside are written and sorted)."""
    points = fcurve.keyframe_points
    frames = [kp.co[0] for kp in points]
    for hold in holds:
        if not hold.joins:
            continue
        kp = _key_at(points, hold.frame)
        inner = [x for x in frames if (x > hold.frame if hold.side < 0 else x < hold.frame)]
        if kp is None or not inner:
            continue
        nearest = min(inner) if hold.side < 0 else max(inner)
        co = tuple(kp.co)
        outward = tuple(kp.handle_left if hold.side < 0 else kp.handle_right)
        handle = bezier.handle_along(co, bezier.slope_of(co, outward), (nearest - co[0]) / 3.0)
        if hold.side < 0:
            kp.handle_right = handle
        else:
            kp.handle_left = handle


def write_range(fcurve, start: int, values: list[float], tolerance: float | None, keep_pins: bool,
                context: tuple[int, int] | None = None) -> int:
    """Replace the keys in [start, start + len(values) - 1] with ``values`` (one per frame).

    ``tolerance`` None writes every frame. With ``keep_pins`` the animator's keys in the range
    stay exactly as they are (the values there should already equal them). The curve outside
    the range stays exactly as it was where keys define it; ``context`` (first and last frame)
    are the frames the values were generated against: outside the range but within them the
    curve is held even where only the extrapolation past the first or last key defines it.
    Returns the number of keys written (edge keys included).
    """
    if not values:
        return 0
    end = start + len(values) - 1
    pins = pins_in_range(fcurve, start, end) if keep_pins else []
    pin_offsets = sorted({int(round(p.frame - start)) for p in pins})
    holds = _plan_holds(fcurve, start, end, context, keep_pins)
    _remove_keys_in_range(fcurve, start, end, keep_pins)
    written = _apply_holds(fcurve, holds)
    pinned = set(pin_offsets)
    if tolerance is None:
        chosen = [i for i in range(len(values)) if i not in pinned]
        keyed = [values[i] for i in chosen]
    else:
        reduced = keyreduce.reduce_keys(values, tolerance, keep=pin_offsets)
        chosen = [i for i in reduced.frames if i not in pinned]
        keyed = [y for i, y in zip(reduced.frames, reduced.values) if i not in pinned]
    _append_keys(fcurve, [float(start + i) for i in chosen], keyed)
    fcurve.update()
    _join_holds(fcurve, holds)
    fcurve.update()
    written += len(chosen)
    if tolerance is not None:
        written += _meet_tolerance(fcurve, start, values, tolerance, pinned,
                                   _unmodelled(fcurve, reduced.frames, pin_offsets))
    return written


def _unmodelled(fcurve, frames: list[int], pins: list[int]) -> list[int] | None:
    """The offsets where Blender's curve may differ from the reducer's model of it (None: all).

    The reducer reproduces Blender's auto-clamped handles exactly, from key positions alone, for
    a curve without auto smoothing. It cannot know the handles of the range's first and last
    keys, which Blender computes from the keys outside (edge keys, the animator's keys), nor of
    the pins, whose handles are the animator's: so the first and last segment and the two keys
    on each side of a pin. Curves with Continuous Acceleration smoothing differ everywhere.
    """
    if fcurve.auto_smoothing != "NONE" or len(frames) < 3:
        return None
    spans = [(frames[0], frames[1]), (frames[-2], frames[-1])]
    where = {f: j for j, f in enumerate(frames)}
    for pin in pins:
        j = where[pin]
        spans.append((frames[max(0, j - 2)], frames[min(len(frames) - 1, j + 2)]))
    return sorted({i for lo, hi in spans for i in range(lo, hi + 1)})


def _meet_tolerance(fcurve, start: int, values: list[float], tolerance: float, pinned: set[int],
                    check: list[int] | None = None) -> int:
    """Key the frames where Blender's evaluated curve misses its sample; returns keys added.
    ``check``: the offsets to look at first (None: all); once a key is added, all are."""
    added = 0
    evaluate = fcurve.evaluate
    limit = tolerance + _SLACK
    while True:
        offsets = range(len(values)) if check is None else check
        misses = [i for i in offsets if i not in pinned and abs(evaluate(start + i) - values[i]) > limit]
        if not misses:
            return added
        check = None
        end = start + len(values) - 1
        existing = {int(round(kp.co[0])) - start for kp in fcurve.keyframe_points
                    if start - 0.5 < kp.co[0] < end + 0.5}
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
        worst = [max(r, key=lambda i: abs(evaluate(start + i) - values[i])) for r in runs]
        before = len(fcurve.keyframe_points)
        _append_keys(fcurve, [float(start + i) for i in worst], [values[i] for i in worst])
        fcurve.update()
        if len(fcurve.keyframe_points) == before:
            # Blender took no key (a linked, not editable F-curve drops them silently): stop
            # instead of asking again for ever. The job's writability check should prevent this.
            return added
        added += len(worst)


def copy_range(source, target, start: float, end: float) -> None:
    """Make ``target``'s keys in [start, end] exactly ``source``'s (all key properties), holding
    ``target``'s curve outside the range as ``write_range`` does."""
    holds = _plan_holds(target, start, end, None, keep_pins=False)
    _remove_keys_in_range(target, start, end, keep_pins=False)
    _apply_holds(target, holds)
    points = source.keyframe_points
    chosen = [i for i, kp in enumerate(points) if start - 0.5 < kp.co[0] < end + 0.5]
    copied = {}
    for prop, kind in _KEY_PROPS.items():
        width = 2 if prop in _PAIRS else 1
        values = [kind] * (width * len(points))
        points.foreach_get(prop, values)
        copied[prop] = [values[width * i + j] for i in chosen for j in range(width)]
    _add_keys(target, copied)
    target.update()
    _join_holds(target, holds)
    target.update()


def hold_value(fcurve, value: float, edges: list[float]) -> None:
    """Key an empty F-curve flat at ``value`` on each of ``edges`` (the half frames just outside a
    range): the curve outside then stays at the value the property had without animation, which
    is what the sidecar was given there. The keys are edge keys like those of a held range."""
    keys = [_line_key(edge, value, 0.0, 1.0 / 3.0) for edge in edges]
    _append_keys(fcurve, [k.co[0] for k in keys], [k.co[1] for k in keys], handle_type="FREE",
                 lefts=[k.left for k in keys], rights=[k.right for k in keys])
    fcurve.update()
