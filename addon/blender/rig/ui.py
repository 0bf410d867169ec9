"""The Rig sub-panel: the ARKit mapping as an editable list, and its report."""

import bpy

from ...core import arkit
from . import data


class MOUTHPIECE_UL_mapping(bpy.types.UIList):
    """One row per ARKit channel: its name and the shape key that plays it."""

    filter_unmapped: bpy.props.BoolProperty(name="Only Mapped", default=False)

    def draw_item(self, context, layout, data_, item, icon, active_data, active_propname, index=0):
        key = context.active_object.data.shape_keys if context.active_object else None
        row = layout.row(align=True)
        split = row.split(factor=0.45, align=True)
        split.label(text=item.name, icon="CHECKMARK" if item.shape_key else "BLANK1")
        if key is not None:
            split.prop_search(item, "shape_key", key, "key_blocks", text="", icon="SHAPEKEY_DATA")
        else:
            split.prop(item, "shape_key", text="")

    def draw_filter(self, context, layout):
        row = layout.row(align=True)
        row.prop(self, "filter_name", text="")
        row.prop(self, "filter_unmapped", text="", icon="CHECKMARK")

    def filter_items(self, context, data_, propname):
        items = getattr(data_, propname)
        helper = bpy.types.UI_UL_list
        flags = helper.filter_items_by_name(self.filter_name, self.bitflag_filter_item, items, "name") \
            if self.filter_name else [self.bitflag_filter_item] * len(items)
        if self.filter_unmapped:
            flags = [f if item.shape_key else 0 for f, item in zip(flags, items)]
        return flags, []


class MOUTHPIECE_PT_rig(bpy.types.Panel):
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Mouthpiece"
    bl_label = "Rig"
    bl_parent_id = "MOUTHPIECE_PT_main"

    def draw(self, context):
        layout = self.layout
        obj = context.active_object
        try:
            data.shape_key_data(obj)
        except data.RigError as exc:
            col = layout.column(align=True)
            col.label(text="No shape keys", icon="ERROR")
            col.label(text=str(exc)[:60])
            layout.operator("mouthpiece.add_demo_head", icon="MONKEY")
            return
        settings = obj.mouthpiece
        result = data.report(obj)
        row = layout.row()
        row.label(text=result.summary() if result else "", icon="SHAPEKEY_DATA")
        row.operator("mouthpiece.auto_map", text="Auto Map", icon="FILE_REFRESH")
        if not len(settings.mapping):
            box = layout.box()
            box.label(text="Matched by name; press Auto Map to edit", icon="INFO")
        else:
            layout.template_list("MOUTHPIECE_UL_mapping", "", settings, "mapping", settings, "mapping_index",
                                 rows=6)
        if result is None:
            return
        box = layout.box()
        box.prop(settings, "show_report", icon="TRIA_DOWN" if settings.show_report else "TRIA_RIGHT",
                 text=f"Report: {len(result.unmapped_channels)} unmapped, {len(result.unused_keys)} unused",
                 emboss=False)
        if settings.show_report:
            col = box.column(align=True)
            col.scale_y = 0.8
            for problem in result.problems:
                col.label(text=problem, icon="ERROR")
            if result.unmapped_channels:
                col.label(text="ARKit channels with no shape key:")
                missing = result.unmapped_channels
                speech = [c for c in missing if c in arkit.SPEECH_CHANNELS]
                if speech:
                    col.label(text=f"  speech: {len(speech)} (these matter most for lip sync)", icon="INFO")
                for start in range(0, len(missing), 3):
                    col.label(text="  " + ", ".join(missing[start:start + 3]))
            if result.unused_keys:
                col.label(text="Shape keys no channel drives:")
                for start in range(0, len(result.unused_keys), 3):
                    col.label(text="  " + ", ".join(result.unused_keys[start:start + 3]))
