"""The Takes sub-panel: the list of variations (selecting one previews it), Apply and Delete."""

import bpy

from ...core import performance
from .. import ui_text
from ..performance.operator import take_style
from ..generate import data as generate_data
from ..rig import data as rig
from ..panel import SidebarPanel


class MOUTHPIECE_UL_takes(bpy.types.UIList):
    def draw_item(self, context, layout, data_, item, icon, active_data, active_propname, index=0):
        previewing = data_.previewing == index
        row = layout.row(align=True)
        op = row.operator("mouthpiece.preview_take", text="", emboss=False,
                          icon="HIDE_OFF" if previewing else "HIDE_ON")
        op.index = index
        # "Take 16" needs 42 px at 1x, "seed 2147483646" 98: the seed (or the style) gets the room.
        # A take of a style-conditioned model shows its style (the seed is under the list).
        split = row.split(factor=0.36, align=True)
        split.label(text=item.name)
        detail = split.row(align=True)
        detail.active = False
        style = take_style(item)
        # Two parts fit the default sidebar width (seen in the GUI); Keep Style copies all of it.
        detail.label(text=performance.format_style(style, limit=2) if style else f"seed {item.seed}")
        op = row.operator("mouthpiece.delete_take", text="", icon="X", emboss=False)
        op.index = index


class MOUTHPIECE_PT_takes(SidebarPanel, bpy.types.Panel):
    bl_label = "Takes"
    bl_parent_id = "MOUTHPIECE_PT_main"

    def draw(self, context):
        layout = self.layout
        scene = context.scene
        obj = context.active_object
        row = layout.row(align=True)
        row.enabled = not generate_data.ACTIVE.running
        row.operator("mouthpiece.variations", icon="SEQ_STRIP_DUPLICATE")
        row.prop(scene.mouthpiece, "takes", text="Takes")  # 0: the preference's count
        settings = rig.settings_of(obj) if obj is not None and obj.type == "MESH" else None
        if settings is None or not len(settings.takes):
            ui_text.label(layout, context, "Variations makes several takes of the range to compare here",
                          icon="INFO")
            return
        split = layout.split(factor=0.45, align=True)
        op = split.operator("mouthpiece.preview_take", text="Original", depress=settings.previewing < 0,
                            icon="HIDE_OFF" if settings.previewing < 0 else "HIDE_ON")
        op.index = -1
        split.label(text=f"Frames {settings.takes_start}-{settings.takes_end}")
        # The active row is the take on screen (selecting a row previews it), and the one Apply keeps.
        layout.template_list("MOUTHPIECE_UL_takes", "", settings, "takes", settings, "takes_index", rows=3)
        index = settings.takes_index
        chosen = settings.takes[index] if 0 <= index < len(settings.takes) else None
        row = layout.row(align=True)
        keep = row.row(align=True)
        keep.enabled = chosen is not None  # on the original there is nothing to apply
        keep.operator("mouthpiece.apply_take", text=f"Apply {chosen.name}" if chosen else "Apply Selected",
                      icon="CHECKMARK").index = -1
        keep.operator("mouthpiece.use_take_seed", text="", icon="RNDCURVE").index = -1
        keep.operator("mouthpiece.keep_style", text="", icon="COPYDOWN").index = -1
        # An icon (its tooltip: Discard Takes), so that "Apply Take 16" fits a default-width sidebar.
        row.operator("mouthpiece.discard_takes", text="", icon="TRASH")
        if chosen is not None:
            row = layout.row(align=True)
            info = row.row(align=True)
            info.active = False
            info.label(text=f"seed {chosen.seed}")
            op = row.operator("mouthpiece.match_style", text="Match", icon="EYEDROPPER")
            op.source, op.index = "TAKE", -1
