"""The Mouthpiece panel's top: the sidecar's state, drawn from the cached health only."""

import bpy

from .data import SIDECAR

_STATE_ICON = {"connected": "CHECKMARK", "starting": "SORTTIME", "down": "CANCEL", "error": "ERROR",
               "unknown": "QUESTION"}
_STATE_TEXT = {"connected": "Connected", "starting": "Starting...", "down": "Not running", "error": "Error",
               "unknown": "Not checked"}


class MOUTHPIECE_PT_main(bpy.types.Panel):
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Mouthpiece"
    bl_label = "Mouthpiece"

    def draw(self, context):
        layout = self.layout
        health = SIDECAR.health
        box = layout.box()
        row = box.row(align=True)
        row.label(text=f"Sidecar: {_STATE_TEXT.get(health.state, health.state)}",
                  icon=_STATE_ICON.get(health.state, "QUESTION"))
        row.operator("mouthpiece.sidecar_check", text="", icon="FILE_REFRESH")
        if health.state == "connected":
            grid = box.grid_flow(row_major=True, columns=2, even_columns=False, align=True)
            grid.label(text="Model")
            grid.label(text=health.model or "-")
            grid.label(text="Frame rate")
            grid.label(text=f"{health.fps:g} fps" if health.fps else "-")
            grid.label(text="Device")
            grid.label(text=health.device or "-")
            grid.label(text="Address")
            grid.label(text=f"{health.url} ({health.source})")
        elif health.message:
            col = box.column(align=True)
            col.scale_y = 0.8
            for line in _wrap(health.message, 48)[:6]:
                col.label(text=line)
        row = box.row(align=True)
        row.operator("mouthpiece.sidecar_start", text="Start", icon="PLAY")
        row.operator("mouthpiece.sidecar_stop", text="Stop", icon="PAUSE")


def _wrap(text: str, width: int) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width) or [text]
