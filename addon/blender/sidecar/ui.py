"""The Mouthpiece panel's top: the sidecar's state, drawn from the cached health only."""

import bpy

from .. import ui_text
from .data import SIDECAR
from ..panel import SidebarPanel

_STATE_ICON = {"connected": "CHECKMARK", "starting": "SORTTIME", "down": "CANCEL", "error": "ERROR",
               "unknown": "QUESTION"}
_STATE_TEXT = {"connected": "Connected", "starting": "Starting...", "down": "Not running", "error": "Error",
               "unknown": "Not checked"}
_SOURCE_TEXT = {"environment": "MOUTHPIECE_URL", "started": "started by Blender", "state file": "its state file",
                "preferences": "preferences"}


class MOUTHPIECE_PT_main(SidebarPanel, bpy.types.Panel):
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
            col = box.column(align=True)
            address = health.url.split("://", 1)[-1]
            for name, value in (("Model", health.model or "-"),
                                ("Frame rate", f"{health.fps:g} fps" if health.fps else "-"),
                                ("Device", health.device or "-"),
                                ("Address", address),
                                ("Found via", _SOURCE_TEXT.get(health.source, health.source or "-"))):
                # A fixed split gives the values the room: a grid halves the width and cuts the address.
                split = col.split(factor=0.36, align=True)
                split.label(text=name)
                split.label(text=value)
        elif health.message:
            ui_text.label(box, context, health.message, max_lines=6)
        row = box.row(align=True)
        start = row.row(align=True)
        start.enabled = health.state != "connected"  # already connected: nothing to start
        start.operator("mouthpiece.sidecar_start", text="Start", icon="PLAY")
        row.operator("mouthpiece.sidecar_stop", text="Stop", icon="PAUSE")
