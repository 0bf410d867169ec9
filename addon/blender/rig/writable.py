"""Can Mouthpiece's result be kept where Blender saves it? Checked before a job runs and before
Pin Pose, Variations and Apply write anything.

Shape-key animation is an Action on the mesh's Key datablock. A linked rig's Key is linked
library data: Python can still add keys there, the face even animates, but nothing of it is
saved (on reopening the Key comes from the library again and the Action is orphaned). A library
override of the object alone does not change that: Object > Library Override > Make can leave
the mesh, and with it the Key, linked (it does for the demo head in 4.5, 5.0 and 5.3). The animation is saved when the mesh is a library override too (or local):
its Key then belongs to the override and keeps a local Action. An Action that is itself linked,
or an override, cannot have its keys changed, so it must be local.

The mapping and the takes live on the object (``Object.mouthpiece``), which is overridable, or
where an override cannot keep them (Blender 5) in the scene (``data.settings_of``); a linked
object that is not overridden cannot store them.
"""

from __future__ import annotations

from .. import compat
from .data import RigError, settings_kept, settings_of


def _library_name(id_block) -> str:
    library = id_block.library
    return library.name if library is not None else "its library"


def object_problem(obj) -> str | None:
    """Why the object cannot store the mapping or takes (None: it can)."""
    if obj.library is not None:
        return (f"'{obj.name}' is linked from {_library_name(obj)}, so nothing can be stored on it in this "
                "file: make it a library override (3D Viewport: Object > Library Override > Make), then "
                "press Make Shape Keys Editable in Mouthpiece > Rig")
    return None


def key_problem(obj, key) -> str | None:
    """Why animation written to the object's shape keys would not be saved (None: it would)."""
    problem = object_problem(obj)
    if problem:
        return problem
    if key.library is not None:
        return (f"The shape keys of '{obj.name}' belong to its mesh '{obj.data.name}', which is linked from "
                f"{_library_name(obj.data)}: animation written there would be lost when the file is saved. "
                "Press Make Shape Keys Editable in Mouthpiece > Rig (it makes the mesh a library override), "
                "then run this again")
    ad = key.animation_data
    action = ad.action if ad is not None else None
    return action_problem(action)


def action_problem(action) -> str | None:
    if action is None or (action.library is None and action.override_library is None):
        return None
    where = f"linked from {_library_name(action)}" if action.library is not None else "a library override"
    return (f"The shape keys' Action '{action.name}' is {where}, so its keys cannot be changed: press Make "
            "Shape Keys Editable in Mouthpiece > Rig (it gives them a local copy of it), then run this again")


def library_takes(obj) -> int:
    """How many of the object's takes come from the library it overrides (they cannot be removed)."""
    override = obj.override_library
    reference = override.reference if override is not None else None
    if reference is None or not settings_kept(obj) or settings_of(obj).id_data != obj:
        return 0  # its takes are not the library's (reading the library's would give it settings)
    return len(reference.mouthpiece.takes)


def takes_problem(obj) -> str | None:
    """Why the object's takes cannot be replaced or removed (None: they can)."""
    count = library_takes(obj)
    if count:
        return (f"'{obj.name}' has {count} {'take' if count == 1 else 'takes'} saved in its library "
                f"{_library_name(obj.override_library.reference)}, which an override cannot remove: apply or "
                "discard them in that file first")
    return None


def check(obj, key, *, takes: bool = False) -> None:
    """RigError saying what to do when the result could not be written and saved."""
    problem = key_problem(obj, key) or (takes_problem(obj) if takes else None)
    if problem:
        raise RigError(problem)


def check_object(obj) -> None:
    """RigError when the object cannot keep a mapping (linked and not overridden)."""
    problem = object_problem(obj)
    if problem:
        raise RigError(problem)


def needs_editing(obj, key) -> bool:
    """Make Shape Keys Editable would help: the object can store things, but the Key or its
    Action cannot keep new keys."""
    return object_problem(obj) is None and key_problem(obj, key) is not None


def make_editable_helps(obj, key) -> bool:
    """As ``needs_editing``, or the object is a system override (its fields greyed out)."""
    override = obj.override_library
    return needs_editing(obj, key) or (override is not None and override.is_system_override)


def make_shape_keys_editable(obj) -> list[str]:
    """Make the object's mesh a library override used by this object only (other instances of
    the rig keep theirs), which brings its Key along, and give the Key a local copy of a linked
    or overridden Action. Returns what was done, for the report."""
    done = []
    if obj.override_library is not None and obj.override_library.is_system_override:
        # What the Outliner's Library Override > Make Editable does: the mapping list and the
        # takes can then be edited in the panel (a system override's fields are greyed out).
        obj.override_library.is_system_override = False
        done.append(f"'{obj.name}' is now an editable override")
    if obj.data.library is not None:
        linked = obj.data
        mesh = linked.override_create(remap_local_usages=False)
        if mesh is None:
            raise RigError(f"Blender could not make a library override of the mesh '{linked.name}'")
        obj.data = mesh
        done.append(f"the mesh '{mesh.name}' is now a library override")
    key = obj.data.shape_keys
    ad = key.animation_data if key is not None else None
    action = ad.action if ad is not None else None
    if action_problem(action):
        copy = action.copy()
        copy.name = action.name
        compat.assign_action(key, copy)
        done.append(f"the shape keys have a local copy of the Action '{action.name}'")
    return done
