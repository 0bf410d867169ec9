"""The Rig sub-panel: the ARKit mapping as an editable list, and its report."""

import bpy

from ...core import arkit
from .. import ui_text
from . import data, writable
from ..panel import SidebarPanel


class MOUTHPIECE_UL_mapping(bpy.types.UIList):
    """One row per ARKit channel: its name and the shape key that plays it."""

    filter_unmapped: bpy.props.BoolProperty(name="Only Mapped", default=False)

    def draw_item(self, context, layout, data_, item, icon, active_data, active_propname, index=0):
        # Two labels, no icons: ARKit names run to 16 characters and a default-width sidebar has
        # room for two such names only without the search field's icon and clear button. The
        # active row is edited in the field under the list. A shape key named like its channel
        # is dimmed; an unmapped channel is red.
        split = layout.split(factor=0.5, align=True)
        split.label(text=item.name)
        value = split.row(align=True)
        if not item.shape_key:
            value.alert = True
            value.label(text="not mapped")
        else:
            value.active = item.shape_key != item.name
            value.label(text=item.shape_key)

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


class MOUTHPIECE_PT_rig(SidebarPanel, bpy.types.Panel):
    bl_label = "Rig"
    bl_parent_id = "MOUTHPIECE_PT_main"

    def draw(self, context):
        layout = self.layout
        obj = context.active_object
        try:
            data.shape_key_data(obj)
        except data.RigError as exc:
            ui_text.label(layout, context, str(exc), icon="ERROR")
            layout.operator("mouthpiece.add_demo_head", icon="MONKEY")
            return
        problem = writable.key_problem(obj, obj.data.shape_keys) or writable.settings_problem(obj)
        if problem:
            ui_text.label(layout.box(), context, problem, icon="ERROR")
        if writable.make_editable_helps(obj, obj.data.shape_keys):
            layout.operator("mouthpiece.make_shape_keys_editable", icon="LIBRARY_DATA_OVERRIDE")
        settings = obj.mouthpiece
        result = data.report(obj)
        if not len(settings.mapping):
            box = layout.box()
            ui_text.label(box, context, "Shape keys are matched to ARKit channels by name. "
                          "Auto Map lists the matches here to edit.", icon="INFO")
            box.operator("mouthpiece.auto_map", text="Auto Map", icon="FILE_REFRESH")
        else:
            layout.operator("mouthpiece.auto_map", text="Auto Map", icon="FILE_REFRESH")
            layout.template_list("MOUTHPIECE_UL_mapping", "", settings, "mapping", settings, "mapping_index",
                                 rows=6)
            if 0 <= settings.mapping_index < len(settings.mapping):
                item = settings.mapping[settings.mapping_index]
                col = layout.column(align=True)
                col.label(text=f"{item.name} is played by:")
                col.prop_search(item, "shape_key", obj.data.shape_keys, "key_blocks", text="")
        if result is None:
            return
        box = layout.box()
        # The summary is the report's header: one line that says how the rig maps.
        box.prop(settings, "show_report", icon="TRIA_DOWN" if settings.show_report else "TRIA_RIGHT",
                 text=f"{len(result.mapped)}/{arkit.NUM_CHANNELS} mapped, {len(result.unused_keys)} "
                      f"{'key' if len(result.unused_keys) == 1 else 'keys'} unused"
                      + (f", {len(result.problems)} problems" if result.problems else ""),
                 emboss=False)
        if settings.show_report:
            for problem in result.problems:
                ui_text.label(box, context, problem, icon="ERROR")
            missing = result.unmapped_channels
            if missing:
                speech = [c for c in missing if c in arkit.SPEECH_CHANNELS]
                ui_text.label(box, context, f"ARKit channels with no shape key ({len(missing)}): " + ", ".join(missing))
                if speech:
                    ui_text.label(box, context, f"{len(speech)} of them drive speech, the channels that matter "
                                  "most for lip sync", icon="INFO")
            if result.unused_keys:
                ui_text.label(box, context, f"Shape keys no channel drives ({len(result.unused_keys)}): "
                              + ", ".join(result.unused_keys))
            if not (result.problems or missing or result.unused_keys):
                box.label(text="Every channel has its shape key", icon="CHECKMARK")
