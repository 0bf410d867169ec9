"""The Performance sub-panel: each style key's slider with its "set" switch (greyed while unset:
the model draws it per take), the emotion and its intensity, style guidance, Reset and Match Style."""

import bpy

from ...core import performance
from .. import ui_text
from ..panel import SidebarPanel


def _keyed_row(layout, settings, key: str, active: bool = True) -> None:
    row = layout.row(align=True)
    row.prop(settings, f"use_{key}", text="")
    sub = row.row(align=True)
    sub.active = active and getattr(settings, f"use_{key}")
    sub.prop(settings, key, slider=key != "emotion")


class MOUTHPIECE_PT_performance(SidebarPanel, bpy.types.Panel):
    bl_label = "Performance"
    bl_parent_id = "MOUTHPIECE_PT_main"
    bl_options = {"DEFAULT_CLOSED"}

    def draw(self, context):
        layout = self.layout
        settings = context.scene.mouthpiece.performance
        col = layout.column(align=True)
        for key in performance.CONTROLS:
            _keyed_row(col, settings, key)
        col = layout.column(align=True)
        _keyed_row(col, settings, "emotion")
        _keyed_row(col, settings, "intensity", active=settings.use_emotion and settings.emotion != "neutral")
        layout.prop(settings, "style_guidance", slider=True)
        if not any(getattr(settings, f"use_{key}") for key in performance.KEYS):
            ui_text.label(layout, context, "Nothing set: each take draws its own style", icon="INFO")
        row = layout.row(align=True)
        row.operator("mouthpiece.match_style", icon="EYEDROPPER").source = "RANGE"
        row.operator("mouthpiece.reset_performance", icon="LOOP_BACK")
