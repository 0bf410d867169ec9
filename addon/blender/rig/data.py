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


def settings_kept(obj) -> bool:
    """Whether what is stored in ``obj.mouthpiece`` is kept when the file is saved. Not on a linked
    object; nor, in Blender 5, on a library override of an object on which nothing was ever stored
    in its library: Blender then records the whole settings group as one replaced pointer, which it
    cannot apply when the file is opened again (4.5 gives the reference the group and works)."""
    if obj.library is not None:
        return False
    override = obj.override_library
    reference = override.reference if override is not None else None
    return reference is None or reference.is_property_set("mouthpiece")


def store_mapping(obj, mapping: dict[str, str]) -> None:
    """One list item per ARKit channel, in channel order. On a library override the items that
    came from the library cannot be removed (``clear()`` drops only those added on the override),
    so there the list is updated in place: existing items get their shape key, missing channels
    are added, and an item for no channel is left unmapped."""
    if not settings_kept(obj):
        return  # the automatic mapping is used again next time (writable.settings_problem says why)
    items = obj.mouthpiece.mapping
    if obj.override_library is None and [item.name for item in items] != list(arkit.CHANNELS):
        items.clear()
    present = set()
    for item in items:
        item.shape_key = mapping.get(item.name, "")  # "" for an item that names no channel
        present.add(item.name)
    for channel in arkit.CHANNELS:
        if channel not in present:
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
