"""The rig side of a job: the mesh's shape keys, its ARKit mapping and the mapping report."""

from __future__ import annotations

import bpy

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
    return {item.name: item.shape_key for item in settings_of(obj).mapping}


def effective_mapping(obj, key) -> tuple[dict[str, str], bool]:
    """(channel -> shape key, whether it came from automatic matching rather than the object).

    An object without a stored mapping gets the automatic one; it is stored only when a job
    succeeds (or when the animator presses Auto Map), so a failed job changes nothing.
    """
    if len(settings_of(obj).mapping):
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


def _record(obj):
    """The record of ``obj`` in a scene of this file (``Scene.mouthpiece.objects``), or None."""
    for scene in bpy.data.scenes:
        if scene.library is None:
            for record in scene.mouthpiece.objects:
                if record.object == obj:
                    return record
    return None


def settings_of(obj, *, create: bool = False):
    """The mapping and takes of ``obj`` (a MouthpieceObjectSettings), to read and write: the only
    place that decides where they live. ``obj.mouthpiece``, except for an override whose own
    settings would not be kept (``settings_kept``): its settings are a record in a scene of this
    file, always local, made when something is first stored (``create``; a panel draws but never
    writes). Once made, the record is used for as long as it is there. Until then such an object
    reads an empty group that is never saved (``WindowManager.mouthpiece_blank``): merely reading
    ``obj.mouthpiece`` gives the override the group that Blender 5 cannot load."""
    record = _record(obj)
    if record is not None:
        return record.settings
    if obj.library is not None or settings_kept(obj):
        return obj.mouthpiece
    if not create:
        return bpy.context.window_manager.mouthpiece_blank
    for scene in bpy.data.scenes:  # records of deleted objects go
        records = scene.mouthpiece.objects if scene.library is None else ()
        for index in reversed(range(len(records))):
            if records[index].object is None:
                records.remove(index)
    scene = next((s for s in obj.users_scene if s.library is None), None) or bpy.context.scene
    record = scene.mouthpiece.objects.add()
    record.name = obj.name
    record.object = obj
    return record.settings


def owner_of(settings):
    """The object whose settings these are (see ``settings_of``), or None."""
    owner = settings.id_data
    if isinstance(owner, bpy.types.Object):
        return owner
    pointer = settings.as_pointer()
    for record in owner.mouthpiece.objects if isinstance(owner, bpy.types.Scene) else ():
        if record.settings.as_pointer() == pointer:
            return record.object
    return None


def store_mapping(obj, mapping: dict[str, str]) -> None:
    """One list item per ARKit channel, in channel order. On a library override the items that
    came from the library cannot be removed (``clear()`` drops only those added on the override),
    so there the list is updated in place: existing items get their shape key, missing channels
    are added, and an item for no channel is left unmapped."""
    settings = settings_of(obj, create=True)
    items = settings.mapping
    own = settings.id_data == obj and obj.override_library is not None  # items may come from the library
    if not own and [item.name for item in items] != list(arkit.CHANNELS):
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
