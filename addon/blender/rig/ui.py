"""The Rig sub-panel: Auto Map, and the ARKit mapping as an editable list with its report,
folded under a one-line summary."""

import bpy

from ...core import arkit
from .. import ui_text
from . import data, writable
from ..panel import SidebarPanel


# A list row in a box has less room than a label in that box: the list's inset and scroll bar,
# and each label's own inset (both sides) and the split's gap.
_LIST_PX = 22
_LABEL_PADDING_PX = 16


def _name_factor(context) -> float:
    """The part of a mapping row that shows every ARKit name in full at this sidebar's width (the
    longest, mouthLowerDownRight, is 126 px at 1x: about 0.72 of a default-width sidebar's row);
    a wider sidebar gives the shape keys the rest."""
    prefs = context.preferences
    scale = prefs.system.ui_scale
    size = (prefs.ui_styles[0].widget.points, scale)
    if size not in _WIDEST_NAME_PX:  # measured once per font size, not for every row drawn
        _WIDEST_NAME_PX[size] = ui_text.measure(context, arkit.CHANNELS)
    row = ui_text.room(context) - _LIST_PX * scale
    widest = _WIDEST_NAME_PX[size] + _LABEL_PADDING_PX * scale
    return min(0.75, max(0.5, widest / row)) if row > 0 else 0.5


_WIDEST_NAME_PX: dict[tuple[float, float], float] = {}


class MOUTHPIECE_UL_mapping(bpy.types.UIList):
    """One row per ARKit channel: its name in full, and what plays it."""

    filter_unmapped: bpy.props.BoolProperty(name="Only Mapped", default=False)

    def draw_item(self, context, layout, data_, item, icon, active_data, active_propname, index=0):
        # An animator reads the channel and checks that the right shape key plays it: the channel's
        # name gets the room it needs; the rest says how it is played. A shape key of the same
        # name is a check (nothing to read); one whose name stands for the channel (JawOpen,
        # mouth_smile_L) is dimmed; any other name is bright, the ones to check. An unmapped channel
        # is red ("none"). The active row is edited, with the shape key's full name, under the list.
        split = layout.split(factor=_name_factor(context), align=True)
        split.alert = not item.shape_key
        split.label(text=item.name)
        value = split.row(align=True)
        if not item.shape_key:
            value.label(text="none")
        elif item.shape_key == item.name:
            value.active = False
            value.label(text="", icon="CHECKMARK")
        else:
            value.active = arkit.canonical_name(item.shape_key) != item.name
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
        problem = writable.key_problem(obj, obj.data.shape_keys)
        if problem:
            ui_text.label(layout.box(), context, problem, icon="ERROR")
        if writable.make_editable_helps(obj, obj.data.shape_keys):
            layout.operator("mouthpiece.make_shape_keys_editable", icon="LIBRARY_DATA_OVERRIDE")
        settings = data.settings_of(obj)
        result = data.report(obj)
        if not len(settings.mapping):
            box = layout.box()
            ui_text.label(box, context, "Shape keys are matched to ARKit channels by name. "
                          "Auto Map lists the matches here to edit.", icon="INFO")
            box.operator("mouthpiece.auto_map", text="Auto Map", icon="FILE_REFRESH")
        else:
            layout.operator("mouthpiece.auto_map", text="Auto Map", icon="FILE_REFRESH")
        if result is None:
            return
        for problem in result.problems:  # broken entries stop every job: always in sight
            ui_text.label(layout, context, problem, icon="ERROR")
        # The mapping list and its report fold under one line that says how the rig maps (closed
        # at first), so that the panels below stay on screen with the Rig panel open.
        box = layout.box()
        box.prop(settings, "show_report", icon="TRIA_DOWN" if settings.show_report else "TRIA_RIGHT",
                 text=f"{len(result.mapped)}/{arkit.NUM_CHANNELS} mapped, {len(result.unused_keys)} "
                      f"{'key' if len(result.unused_keys) == 1 else 'keys'} unused",
                 emboss=False)
        if not settings.show_report:
            return
        if len(settings.mapping):
            box.template_list("MOUTHPIECE_UL_mapping", "", settings, "mapping", settings, "mapping_index", rows=5)
            if 0 <= settings.mapping_index < len(settings.mapping):
                item = settings.mapping[settings.mapping_index]
                col = box.column(align=True)
                col.label(text=f"{item.name} is played by:")
                col.prop_search(item, "shape_key", obj.data.shape_keys, "key_blocks", text="")
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
