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


def connect(operator, context, start: bool) -> set[str]:
    """Connect (starting the sidecar if ``start``): on a thread in the UI, inline in background."""
    settings = prefs.connection_settings(context)
    if bpy.app.background:
        try:
            SIDECAR.connect(settings, start=start)
        except SidecarError as exc:
            operator.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        return {"FINISHED"}

    def work():
        try:
            SIDECAR.connect(settings, start=start)
        except SidecarError:
            pass  # the panel shows SIDECAR.health

    _in_background(work)
    return {"FINISHED"}


class MOUTHPIECE_OT_sidecar_start(bpy.types.Operator):
    """Start the Mouthpiece sidecar (or connect to the configured one) and load its model"""

    bl_idname = "mouthpiece.sidecar_start"
    bl_label = "Start Sidecar"
    bl_options = {"REGISTER"}

    def execute(self, context):
        return connect(self, context, start=True)


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
        return connect(self, context, start=False)


_checks_lock = threading.Lock()
_checks = {"settings": None, "thread": None}  # the newest settings to check; the thread checking


def check_in_background(settings) -> threading.Thread:
    """Check the connection with ``settings`` on a thread, never starting a sidecar (the
    preferences call this when they change). A check asked for while one runs follows it with
    the newest settings, so the panel always ends on the state of the current preferences."""
    with _checks_lock:
        _checks["settings"] = settings
        running = _checks["thread"]
        if running is not None and running.is_alive():
            return running

        def work():
            while True:
                with _checks_lock:
                    current, _checks["settings"] = _checks["settings"], None
                    if current is None:
                        _checks["thread"] = None
                        return
                try:
                    SIDECAR.connect(current, start=False)
                except SidecarError:
                    pass  # the panel shows SIDECAR.health

        thread = threading.Thread(target=work, name="mouthpiece-check", daemon=True)
        _checks["thread"] = thread
        thread.start()
    if not bpy.app.background:
        def watch():
            redraw_panels()
            return 0.25 if thread.is_alive() else None

        bpy.app.timers.register(watch, first_interval=0.1)
    return thread


def checking() -> threading.Thread | None:
    """The thread of the connection check in progress, if any (scripts and tests may join it)."""
    with _checks_lock:
        return _checks["thread"]


def check_soon() -> None:
    """Fill the panel's connection state once the UI is up (a thread; never blocks drawing)."""
    if not bpy.app.background:
        bpy.app.timers.register(lambda: bpy.ops.mouthpiece.sidecar_check() and None, first_interval=1.0)
