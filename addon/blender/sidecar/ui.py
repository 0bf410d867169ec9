"""The Mouthpiece panel's top: the sidecar's state, drawn from the cached health only."""

import bpy

from .. import prefs, ui_text
from .data import SIDECAR, connection_mode
from ..panel import SidebarPanel

_STATE_ICON = {"connected": "CHECKMARK", "starting": "SORTTIME", "down": "CANCEL", "error": "ERROR",
               "unknown": "QUESTION"}
_STATE_TEXT = {"connected": "Connected", "starting": "Starting...", "down": "Not running", "error": "Error",
               "unknown": "Not checked"}
# A sidecar found at an address runs elsewhere: it is unreachable, not stopped, and Start connects.
_REMOTE_STATE_TEXT = {**_STATE_TEXT, "down": "Not reachable"}
_SOURCE_TEXT = {"environment": "MOUTHPIECE_URL", "started": "started by Blender", "state file": "its state file",
                "preferences": "preferences"}


class MOUTHPIECE_PT_main(SidebarPanel, bpy.types.Panel):
    bl_label = "Mouthpiece"

    def draw(self, context):
        layout = self.layout
        health = SIDECAR.health
        remote = connection_mode(prefs.pref("connection", context)) != "START"
        box = layout.box()
        row = box.row(align=True)
        row.label(text=f"Sidecar: {(_REMOTE_STATE_TEXT if remote else _STATE_TEXT).get(health.state, health.state)}",
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
            ui_text.label(box, context, health.message, max_lines=10)
        row = box.row(align=True)
        start = row.row(align=True)
        start.enabled = health.state != "connected"  # already connected: nothing to start
        if remote and not SIDECAR.started_here:
            # Connect to URL / MOUTHPIECE_URL: nothing to start or stop here, only to connect to.
            if health.state != "connected":
                start.operator("mouthpiece.sidecar_start", text="Connect", icon="LINKED")
            return
        start.operator("mouthpiece.sidecar_start", text="Start", icon="PLAY")
        row.operator("mouthpiece.sidecar_stop", text="Stop", icon="PAUSE")
