"""Runs inside Blender's GUI (``blender --python agent.py -- REQUEST_DIR``) and lets a test on the
host drive it: the host drops ``req-<n>.py`` files into REQUEST_DIR; a ``bpy.app.timers``
callback executes each one and answers with ``res-<n>.json``.

A request is Python source run with ``bpy`` and the helpers below in scope. It sets ``result``
to something JSON can carry; when ``result`` is a generator, the agent advances it on later timer
ticks (each ``yield`` gives the seconds to wait, so Blender can process input and redraw in
between) and answers with the generator's return value. Exceptions are answered as ``error``.

Only what must happen inside Blender lives here: where the sidebar is, which button is under the
mouse, Blender state. The host decides what to click and checks the results.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import traceback
from pathlib import Path

import bpy

REQUEST_DIR = Path(sys.argv[sys.argv.index("--") + 1] if "--" in sys.argv else "/tmp/mouthpiece-gui/agent")
TICK_S = 0.1


# ---- helpers available to requests ------------------------------------------------------------

def xdotool(*args: str) -> None:
    """Real X input (XTEST) to the display Blender runs on; Blender handles it after this tick."""
    subprocess.run(["xdotool", *map(str, args)], check=True, capture_output=True)


def main_window():
    return bpy.context.window_manager.windows[0]


def view3d(window=None):
    window = window or main_window()
    area = next(a for a in window.screen.areas if a.type == "VIEW_3D")
    return window, area


def region_of(area, kind: str):
    return next(r for r in area.regions if r.type == kind)


def screen_box(window, region) -> dict:
    """A region's box in X screen pixels (origin top-left); Blender's region y counts from the bottom."""
    return {"x": window.x + region.x, "y": window.y + window.height - (region.y + region.height),
            "width": region.width, "height": region.height}


def override(region_kind: str | None = "WINDOW"):
    window, area = view3d()
    kwargs = {"window": window, "area": area}
    if region_kind:
        kwargs["region"] = region_of(area, region_kind)
    return bpy.context.temp_override(**kwargs)


def redraw_all() -> None:
    for window in bpy.context.window_manager.windows:
        for area in window.screen.areas:
            area.tag_redraw()


def sidebar() -> dict:
    """The 3D viewport's sidebar (N panel): its screen box and active tab."""
    window, area = view3d()
    region = region_of(area, "UI")
    return {**screen_box(window, region), "category": region.active_panel_category,
            "ui_scale": bpy.context.preferences.system.ui_scale, "shown": area.spaces[0].show_region_ui}


def open_sidebar_tab(category: str, attempts: int = 30):
    """Show the sidebar and bring ``category``'s tab to the front as a user does: Ctrl+wheel over
    the tab strip steps through the tabs (Region.active_panel_category is read-only)."""
    window, area = view3d()
    area.spaces[0].show_region_ui = True
    redraw_all()
    yield 0.3
    for step in range(attempts):
        box = sidebar()
        if box["category"] == category:
            return box
        # The tab strip is the sidebar's right edge; low down it is clear of the tabs themselves.
        x = box["x"] + box["width"] - int(10 * box["ui_scale"])
        y = box["y"] + box["height"] - int(30 * box["ui_scale"])
        wheel = 5 if step < attempts // 2 else 4  # down through the tabs, then back up
        xdotool("mousemove", x, y, "keydown", "ctrl", "click", wheel, "keyup", "ctrl")
        yield 0.25
    raise RuntimeError(f"the sidebar tab {category!r} did not come up; tabs stopped at {sidebar()['category']!r}")


def find_operator_button(idname: str, columns=(0.5, 0.9, 0.1), step: int = 6):
    """Where the sidebar button that runs ``idname`` (e.g. "mouthpiece.generate") is on screen.

    Hovers down the sidebar (at each of ``columns``, fractions of the panel width, until found)
    pressing Ctrl+C: over an operator button Blender copies its Python command
    (``bpy.ops.<idname>()``) to the clipboard. No hard-coded offsets: it finds the button
    wherever the panel draws it.
    """
    box = sidebar()
    wm = bpy.context.window_manager
    wanted = f"bpy.ops.{idname}("
    panel_width = box["width"] - int(30 * box["ui_scale"])  # less the tab strip
    for fraction in columns:
        x = box["x"] + int(panel_width * fraction)
        hits = []
        for y in range(box["y"] + step // 2, box["y"] + box["height"], step):
            wm.clipboard = ""
            xdotool("mousemove", x, y, "sleep", "0.03", "key", "ctrl+c")
            yield 0.05
            if wm.clipboard.startswith(wanted):
                hits.append(y)
            elif hits:
                break  # past the button
        if hits:
            xdotool("mousemove", box["x"] + panel_width // 2, box["y"] + box["height"] - 5)  # no tooltip left
            return {"x": x, "y": (hits[0] + hits[-1]) // 2, "top": hits[0], "bottom": hits[-1]}
    raise RuntimeError(f"no button for {idname} in the sidebar (tab {box['category']!r})")


def addon_module(suffix: str):
    """One of the installed add-on's modules (bl_ext.<repo>.mouthpiece.<suffix>)."""
    for name, module in sys.modules.items():
        if name.endswith(".mouthpiece." + suffix) or name == "addon." + suffix:
            return module
    raise LookupError(f"the Mouthpiece add-on module {suffix!r} is not loaded; is the extension enabled?")


def wait(seconds: float):
    yield seconds
    return None


# ---- the request loop -------------------------------------------------------------------------

_namespace = {name: value for name, value in globals().items() if not name.startswith("_")}
_running = {}  # request path -> (generator, stdout buffer)


def _answer(request: Path, **answer) -> None:
    response = request.with_name("res-" + request.name[4:-3] + ".json")
    tmp = response.with_suffix(".tmp")
    tmp.write_text(json.dumps(answer, default=str))
    tmp.replace(response)


def _advance(request: Path, generator, out: io.StringIO) -> float | None:
    try:
        with contextlib.redirect_stdout(out):
            delay = next(generator)
        return float(delay or TICK_S)
    except StopIteration as stop:
        _answer(request, result=stop.value, stdout=out.getvalue(), error=None)
    except Exception:
        _answer(request, result=None, stdout=out.getvalue(), error=traceback.format_exc())
    return None


def _poll():
    if _running:
        request, (generator, out) = next(iter(_running.items()))
        delay = _advance(request, generator, out)
        if delay is None:
            del _running[request]
            return TICK_S
        return delay
    for request in sorted(REQUEST_DIR.glob("req-*.py")):
        source = request.read_text()
        request.unlink()
        scope = dict(_namespace, result=None)
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out):
                exec(compile(source, str(request), "exec"), scope)
        except Exception:
            _answer(request, result=None, stdout=out.getvalue(), error=traceback.format_exc())
            continue
        result = scope.get("result")
        if hasattr(result, "__next__"):
            _running[request] = (result, out)
            return TICK_S
        _answer(request, result=result, stdout=out.getvalue(), error=None)
    return TICK_S


def _start():
    REQUEST_DIR.mkdir(parents=True, exist_ok=True)
    window = main_window()
    # The splash screen would swallow the first clicks: dismiss it as a user does.
    xdotool("mousemove", window.x + window.width // 2, window.y + window.height // 2, "key", "Escape")
    (REQUEST_DIR / "ready").write_text(json.dumps({"pid": os.getpid(), "version": bpy.app.version_string}))
    bpy.app.timers.register(_poll, first_interval=TICK_S, persistent=True)
    return None


bpy.app.timers.register(_start, first_interval=1.0, persistent=True)
