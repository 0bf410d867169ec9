import bpy

from ...core import rigmap
from . import writable
from .data import RigError, reference_name, shape_key_data, shape_key_names, store_mapping


class MOUTHPIECE_OT_auto_map(bpy.types.Operator):
    """Fill the ARKit mapping from the shape key names (replaces edits made in the list)"""

    bl_idname = "mouthpiece.auto_map"
    bl_label = "Auto Map"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        obj = context.active_object
        try:
            key = shape_key_data(obj)
            writable.check_object(obj)
        except RigError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        names = shape_key_names(key)
        mapping = rigmap.auto_map(names, reference_name(key))
        store_mapping(obj, mapping)
        result = rigmap.check_mapping(mapping, names, reference_name(key))
        self.report({"INFO"}, result.summary())
        return {"FINISHED"}


class MOUTHPIECE_OT_make_shape_keys_editable(bpy.types.Operator):
    """Make this linked rig keep its animation when the file is saved: the object becomes an editable override, its mesh a library override for this object, and a linked Action a local copy"""

    bl_idname = "mouthpiece.make_shape_keys_editable"
    bl_label = "Make Shape Keys Editable"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        obj = context.active_object
        try:
            key = shape_key_data(obj)
            if writable.object_problem(obj):
                raise RigError(writable.object_problem(obj))
            done = writable.make_shape_keys_editable(obj) if writable.make_editable_helps(obj, key) else []
            writable.check(obj, obj.data.shape_keys)
        except RigError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, ("Mouthpiece: " + "; ".join(done)) if done else
                    f"The shape keys of '{obj.name}' can already keep their animation")
        return {"FINISHED"}
