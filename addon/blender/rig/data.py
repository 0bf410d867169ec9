"""The rig side of a job: the mesh's shape keys, its ARKit mapping and the mapping report."""

from __future__ import annotations

from ...core import arkit, rigmap


class RigError(ValueError):
    pass


def shape_key_data(obj):
    """The Key datablock of a mesh object; RigError with what to do when there is none."""
    if obj is None:
        raise RigError("Select the mesh to animate (no active object)")
    if obj.type != "MESH":
        raise RigError(f"'{obj.name}' is a {obj.type.lower()}, not a mesh: select the face mesh with the shape keys")
    key = obj.data.shape_keys
    if key is None or len(key.key_blocks) < 2:
        raise RigError(f"'{obj.name}' has no shape keys to animate: add ARKit shape keys, or try "
                       "Add > Mesh > Mouthpiece Demo Head")
    return key


def shape_key_names(key) -> list[str]:
    return [kb.name for kb in key.key_blocks]


def reference_name(key) -> str:
    return key.reference_key.name if key.reference_key is not None else key.key_blocks[0].name


def stored_mapping(obj) -> dict[str, str]:
    return {item.name: item.shape_key for item in obj.mouthpiece.mapping}


def effective_mapping(obj, key) -> tuple[dict[str, str], bool]:
    """(channel -> shape key, whether it came from automatic matching rather than the object).

    An object without a stored mapping gets the automatic one; it is stored only when a job
    succeeds (or when the animator presses Auto Map), so a failed job changes nothing.
    """
    if len(obj.mouthpiece.mapping):
        return stored_mapping(obj), False
    return rigmap.auto_map(shape_key_names(key), reference_name(key)), True


def store_mapping(obj, mapping: dict[str, str]) -> None:
    items = obj.mouthpiece.mapping
    items.clear()
    for channel in arkit.CHANNELS:
        item = items.add()
        item.name = channel
        item.shape_key = mapping.get(channel, "")


def report(obj) -> rigmap.MappingReport | None:
    try:
        key = shape_key_data(obj)
    except RigError:
        return None
    mapping, _ = effective_mapping(obj, key)
    return rigmap.check_mapping(mapping, shape_key_names(key), reference_name(key))


def usable_mapping(obj, key) -> tuple[dict[str, str], bool]:
    """The valid part of the mapping; RigError when nothing maps or an entry is broken."""
    mapping, automatic = effective_mapping(obj, key)
    checked = rigmap.check_mapping(mapping, shape_key_names(key), reference_name(key))
    if checked.problems:
        raise RigError("Fix the ARKit mapping first: " + "; ".join(checked.problems[:3]))
    if not checked.mapped:
        raise RigError(f"None of '{obj.name}''s shape keys matches an ARKit channel: "
                       "map them in Mouthpiece > Rig (pick a shape key for each channel)")
    return checked.mapped, automatic
