import bpy

from ...core import rigmap
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
        except RigError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        names = shape_key_names(key)
        mapping = rigmap.auto_map(names, reference_name(key))
        store_mapping(obj, mapping)
        result = rigmap.check_mapping(mapping, names, reference_name(key))
        self.report({"INFO"}, result.summary())
        return {"FINISHED"}
