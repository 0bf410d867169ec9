"""Start, stop and check the sidecar. In the UI the slow part runs on a thread and a timer
redraws the panel when it is done; in background mode (scripts, tests) it runs to completion."""

from __future__ import annotations

import threading

import bpy

from ...core.client import SidecarError
from .. import prefs
from .data import SIDECAR


def redraw_panels() -> None:
    wm = getattr(bpy.context, "window_manager", None)
    for window in (wm.windows if wm else ()):
        for area in window.screen.areas:
            if area.type in ("VIEW_3D", "PREFERENCES", "DOPESHEET_EDITOR", "GRAPH_EDITOR"):
                area.tag_redraw()


def _in_background(work) -> None:
    """Run ``work`` on a thread; redraw the panels until it finishes."""
    thread = threading.Thread(target=work, name="mouthpiece-sidecar", daemon=True)
    thread.start()

    def watch():
        redraw_panels()
        return 0.25 if thread.is_alive() else None

    bpy.app.timers.register(watch, first_interval=0.1)


class MOUTHPIECE_OT_sidecar_start(bpy.types.Operator):
    """Start the Mouthpiece sidecar (or connect to the configured one) and load its model"""

    bl_idname = "mouthpiece.sidecar_start"
    bl_label = "Start Sidecar"
    bl_options = {"REGISTER"}

    def execute(self, context):
        settings = prefs.connection_settings(context)

        def work():
            try:
                SIDECAR.connect(settings, start=True)
            except SidecarError:
                pass  # the panel shows SIDECAR.health

        if bpy.app.background:
            try:
                SIDECAR.connect(settings, start=True)
            except SidecarError as exc:
                self.report({"ERROR"}, str(exc))
                return {"CANCELLED"}
            return {"FINISHED"}
        _in_background(work)
        return {"FINISHED"}


class MOUTHPIECE_OT_sidecar_stop(bpy.types.Operator):
    """Stop the sidecar that Blender started"""

    bl_idname = "mouthpiece.sidecar_stop"
    bl_label = "Stop Sidecar"
    bl_options = {"REGISTER"}

    @classmethod
    def poll(cls, context):
        return SIDECAR.started_here

    def execute(self, context):
        SIDECAR.stop()
        redraw_panels()
        return {"FINISHED"}


class MOUTHPIECE_OT_sidecar_check(bpy.types.Operator):
    """Ask the sidecar for its state (model, frame rate, device) without starting it"""

    bl_idname = "mouthpiece.sidecar_check"
    bl_label = "Check Connection"
    bl_options = {"REGISTER"}

    def execute(self, context):
        settings = prefs.connection_settings(context)

        def work():
            try:
                SIDECAR.connect(settings, start=False)
            except SidecarError:
                pass

        if bpy.app.background:
            try:
                SIDECAR.connect(settings, start=False)
            except SidecarError as exc:
                self.report({"ERROR"}, str(exc))
                return {"CANCELLED"}
            return {"FINISHED"}
        _in_background(work)
        return {"FINISHED"}


def check_soon() -> None:
    """Fill the panel's connection state once the UI is up (a thread; never blocks drawing)."""
    if bpy.app.background:
        return

    def first_check():
        settings = prefs.connection_settings(bpy.context)

        def work():
            try:
                SIDECAR.connect(settings, start=False)
            except SidecarError:
                pass

        _in_background(work)
        return None

    bpy.app.timers.register(first_check, first_interval=1.0)
