"""Host side of the GUI tests and screenshots: Blender 5.2's real GUI in the Debian sid chroot
made by scripts/gui_chroot, under Xvfb, with the built extension installed and a real sidecar
on the host's loopback (the chroot shares the host's network).

``GuiSession`` starts Xvfb and Blender (with tests/gui/agent.py) inside the chroot and talks to
the agent through files in the chroot's /tmp; ``session.call(source)`` runs Python in Blender,
``session.xdotool(...)`` sends real X input, ``session.screenshot(...)`` grabs the screen.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GUI_CHROOT = REPO / "scripts" / "gui_chroot"
BUILD_EXTENSION = REPO / "scripts" / "build_extension"
AGENT = Path(__file__).with_name("agent.py")
CHECK_CURVES = Path(__file__).with_name("check_curves.py")
# Guards against a hung GUI, not speed checks.
START_GUARD_S = 120.0
CALL_GUARD_S = 300.0
DISPLAY_SIZE = "1600x900x24"
SENTENCE = "Maybe the bright blue ball bounced past my father's foot, and we watched it roll away."


class GuiError(RuntimeError):
    pass


def chroot_root() -> Path:
    """The chroot scripts/gui_chroot made: $MOUTHPIECE_CHROOT, else the folder beside the repo."""
    root = Path(os.environ.get("MOUTHPIECE_CHROOT") or REPO.parent / "chroot")
    if not (root / "usr" / "bin" / "blender").exists():
        raise GuiError(f"no Blender chroot at {root}: run `scripts/gui_chroot setup` (as root) first, "
                       "or point MOUTHPIECE_CHROOT at one")
    return root


def host_path(inside: Path | str) -> Path:
    """Where a path inside the chroot is on the host."""
    return chroot_root() / Path(inside).relative_to("/")


def in_chroot(*command: str, env: dict | None = None, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    """Run a command inside the chroot (scripts/gui_chroot passes DISPLAY and MOUTHPIECE_* through)."""
    return subprocess.run([str(GUI_CHROOT), "--root", str(chroot_root()), "run", *command],
                          env={**os.environ, **(env or {})}, check=check, **kwargs)


def build_extension_zip(out_dir: Path) -> Path:
    """The installable zip: $MOUTHPIECE_EXTENSION_ZIP when set (test a release as shipped), else
    scripts/build_extension's output."""
    given = os.environ.get("MOUTHPIECE_EXTENSION_ZIP")
    if given:
        return Path(given)
    if not BUILD_EXTENSION.exists():
        raise GuiError(f"{BUILD_EXTENSION} is missing: it builds the extension zip to install "
                       "(or set MOUTHPIECE_EXTENSION_ZIP to a built zip)")
    out_dir.mkdir(parents=True, exist_ok=True)
    built = subprocess.run([str(BUILD_EXTENSION), str(out_dir)], cwd=REPO, capture_output=True, text=True)
    paths = [line.split(" ", 1)[1] for line in built.stdout.splitlines() if line.startswith("built ")]
    if built.returncode != 0 or not paths:
        raise GuiError(f"scripts/build_extension failed:\n{built.stdout[-2000:]}{built.stderr[-2000:]}")
    return Path(paths[-1])


def install_extension(zip_path: Path, work: Path) -> dict:
    """Validate and install the zip with Blender's own extension commands, inside the chroot."""
    inside = work / zip_path.name
    shutil.copy(zip_path, host_path(inside))
    validate = in_chroot("blender", "--command", "extension", "validate", str(inside),
                         capture_output=True, text=True, check=False)
    if validate.returncode != 0:
        raise GuiError(f"`blender --command extension validate` rejected {zip_path.name}:\n"
                       f"{validate.stdout[-2000:]}{validate.stderr[-2000:]}")
    install = in_chroot("blender", "--command", "extension", "install-file", "-r", "user_default", "-e",
                        str(inside), capture_output=True, text=True, check=False)
    if install.returncode != 0 or "installed" not in install.stdout.lower():
        raise GuiError(f"`blender --command extension install-file` failed:\n{install.stdout[-2000:]}"
                       f"{install.stderr[-2000:]}")
    return {"validate": validate.stdout.strip().splitlines()[-1:], "install": install.stdout.strip().splitlines()[-1:]}


def speech_wav(path: Path) -> Path:
    subprocess.run(["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(path), SENTENCE], check=True)
    return path


def free_display(first: int = 99) -> str:
    """An X display number no Xvfb in the chroot holds (its lock file is the chroot's /tmp)."""
    tmp = chroot_root() / "tmp"
    for number in range(first, first + 100):
        if not (tmp / f".X{number}-lock").exists() and not (tmp / ".X11-unix" / f"X{number}").exists():
            return f":{number}"
    raise GuiError(f"no free X display number from :{first} in {tmp}")


@dataclass
class GuiSession:
    """Xvfb + Blender GUI inside the chroot. ``work`` is a folder path as seen inside the chroot."""

    work: Path
    display: str = ""
    sidecar_url: str = ""
    sidecar_token: str = ""
    size: str = DISPLAY_SIZE  # the virtual screen, WIDTHxHEIGHTxDEPTH

    def __post_init__(self):
        self.root = chroot_root()
        self.host_work = host_path(self.work)
        self.requests = self.host_work / "agent"
        self._counter = itertools.count()
        self._processes: list[subprocess.Popen] = []
        self.blender_log = self.host_work / "blender.log"
        self.display = self.display or free_display()

    # ---- processes ----
    def start(self) -> dict:
        if self.requests.exists():
            shutil.rmtree(self.requests)
        self.requests.mkdir(parents=True)
        shutil.copy(AGENT, self.host_work / "agent.py")
        xvfb_log = open(self.host_work / "xvfb.log", "w")
        self._spawn(["Xvfb", self.display, "-screen", "0", self.size, "-nolisten", "tcp"], xvfb_log)
        self._wait_for(lambda: (host_path(f"/tmp/.X11-unix/X{self.display.lstrip(':')}")).exists(),
                       "Xvfb to listen", xvfb_log.name)
        env = {"DISPLAY": self.display, "MOUTHPIECE_URL": self.sidecar_url, "MOUTHPIECE_TOKEN": self.sidecar_token}
        self._spawn(["nice", "-n", "10", "blender", "--python", str(self.work / "agent.py"), "--",
                     str(self.work / "agent")], open(self.blender_log, "w"), env=env)
        ready = self.requests / "ready"
        self._wait_for(ready.exists, "Blender's GUI and the agent", self.blender_log)
        return json.loads(ready.read_text())

    def _spawn(self, command: list[str], log, env: dict | None = None) -> None:
        process = subprocess.Popen([str(GUI_CHROOT), "--root", str(self.root), "run", *command],
                                   stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
                                   start_new_session=True)
        self._processes.append(process)

    def _wait_for(self, condition, what: str, log) -> None:
        deadline = time.monotonic() + START_GUARD_S
        while not condition():
            if any(p.poll() is not None for p in self._processes):
                raise GuiError(f"a process exited while waiting for {what}; log:\n{self._tail(log)}")
            if time.monotonic() > deadline:
                raise GuiError(f"{what} not up within {START_GUARD_S:.0f} s; log:\n{self._tail(log)}")
            time.sleep(0.2)

    @staticmethod
    def _tail(log) -> str:
        try:
            return Path(log).read_text(errors="replace")[-3000:]
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """Quit Blender as a user would (it then removes its temporary files), then stop Xvfb; a
        process that does not end is killed by its own process group (started here)."""
        if len(self._processes) > 1 and self._processes[1].poll() is None:
            self._send("with override(None):\n    bpy.ops.wm.quit_blender()")
            try:
                self._processes[1].wait(30)
            except subprocess.TimeoutExpired:
                pass
        for process in reversed(self._processes):
            if process.poll() is None:
                try:
                    os.killpg(process.pid, 15)
                    process.wait(30)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    os.killpg(process.pid, 9)
                    process.wait()
        self._processes.clear()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    # ---- talking to Blender ----
    def call(self, source: str, guard_s: float = CALL_GUARD_S):
        """Run ``source`` in Blender (see agent.py); its ``result``, or GuiError with the traceback."""
        response = self._send(source)
        deadline = time.monotonic() + guard_s
        while not response.exists():
            if any(p.poll() is not None for p in self._processes):
                raise GuiError(f"Blender or Xvfb exited; Blender log:\n{self._tail(self.blender_log)}")
            if time.monotonic() > deadline:
                raise GuiError(f"no answer from Blender within {guard_s:.0f} s to:\n{source}")
            time.sleep(0.05)
        answer = json.loads(response.read_text())
        response.unlink()
        if answer["error"]:
            raise GuiError(f"in Blender:\n{answer['error']}\nrequest:\n{source}")
        return answer["result"]

    def _send(self, source: str) -> Path:
        """Queue a request for the agent; the path its answer will appear at."""
        name = f"{next(self._counter):06d}"
        request = self.requests / f"req-{name}.py"
        tmp = request.with_suffix(".tmp")
        tmp.write_text(source)
        tmp.replace(request)
        return self.requests / f"res-{name}.json"

    def xdotool(self, *args) -> None:
        in_chroot("xdotool", *map(str, args), env={"DISPLAY": self.display}, capture_output=True)

    def click(self, x: int, y: int) -> None:
        """A left click at (x, y); then the mouse rests on the status bar, where its hover
        highlights no button in the screenshots."""
        self.xdotool("mousemove", x, y, "sleep", "0.2", "click", "1", "sleep", "0.1", "mousemove", 5,
                     int(DISPLAY_SIZE.split("x")[1]) - 5)

    def screenshot(self, out: Path, box: dict | None = None, margin: int = 0) -> Path:
        """The whole screen (``import -window root``), cropped to ``box`` (x, y, width, height) plus
        ``margin``; written as PNG to ``out`` on the host."""
        self.call("redraw_all()\nresult = wait(0.4)")  # let Blender draw the latest state first
        inside = self.work / "shot.png"
        in_chroot("import", "-window", "root", str(inside), env={"DISPLAY": self.display})
        if box is not None:
            x, y = max(0, box["x"] - margin), max(0, box["y"] - margin)
            geometry = f"{box['width'] + 2 * margin}x{box['height'] + 2 * margin}+{x}+{y}"
            in_chroot("convert", str(inside), "-crop", geometry, "+repage", "-strip",
                      "-define", "png:compression-level=9", str(inside))
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(host_path(inside), out)
        return out

    def read_curves(self, blend_inside: Path) -> dict:
        """Open a saved .blend in a separate headless Blender in the chroot; the shape-key curves."""
        shutil.copy(CHECK_CURVES, self.host_work / CHECK_CURVES.name)
        done = in_chroot("nice", "-n", "10", "blender", "-b", str(blend_inside), "--python",
                         str(self.work / CHECK_CURVES.name), capture_output=True, text=True, check=False)
        lines = [line for line in done.stdout.splitlines() if line.startswith("CURVES ")]
        if not lines:
            raise GuiError(f"reading the curves back failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
        return json.loads(lines[-1][len("CURVES "):])


# Requests the smoke test and the screenshots share.
SETUP_SCENE = """
with override():
    if bpy.context.object is not None and bpy.context.object.mode != "OBJECT":
        bpy.ops.object.mode_set(mode="OBJECT")
    bpy.ops.object.select_all(action="SELECT")
    bpy.ops.object.delete()
    assert bpy.ops.mouthpiece.add_demo_head() == {"FINISHED"}
scene = bpy.context.scene
editor = scene.sequence_editor or scene.sequence_editor_create()
strips = editor.strips if hasattr(editor, "strips") else editor.sequences
strip = strips.new_sound("speech", WAV, channel=1, frame_start=START)
scene.frame_start = 1
scene.frame_end = strip.frame_final_end + 6
scene.frame_set(1)
with override():
    bpy.ops.view3d.view_axis(type="FRONT")
    bpy.ops.view3d.view_selected()
redraw_all()
result = {"object": bpy.context.active_object.name, "frames": [scene.frame_start, scene.frame_end],
          "fps": scene.render.fps, "strip": [strip.frame_final_start, strip.frame_final_end]}
"""


def setup_scene(session: GuiSession, wav_inside: Path, start_frame: int = 12) -> dict:
    return session.call(f"WAV = {str(wav_inside)!r}\nSTART = {start_frame}\n" + SETUP_SCENE)


def shape_key_state(session: GuiSession) -> dict:
    """The active object's shape-key action in the live session, and whether a job runs."""
    return session.call("""
obj = bpy.context.active_object
anim = obj.data.shape_keys.animation_data if obj and obj.data.shape_keys else None
running = addon_module("blender.generate.data").ACTIVE.running
result = {"action": anim.action.name if anim and anim.action else None, "running": bool(running)}
""")


# ---- finding things in the sidebar by hovering (shared by the Performance test and the shots) ----

# Ctrl+Shift+C over a property button copies its data path ("mouthpiece.performance.smile");
# Ctrl+C over an operator button copies its command. SCAN hovers one column of the visible
# sidebar and answers what each y copied.
SCAN = """
def _scan(fraction, keys, step=6):
    box = sidebar()
    wm = bpy.context.window_manager
    panel_width = box["width"] - int(30 * box["ui_scale"])
    x = box["x"] + int(panel_width * fraction)
    rows = []
    for y in range(box["y"] + step // 2, box["y"] + box["height"], step):
        wm.clipboard = ""
        xdotool("mousemove", x, y, "sleep", "0.03", "key", keys)
        yield 0.05
        rows.append([y, wm.clipboard])
    xdotool("mousemove", box["x"] + panel_width // 2, box["y"] + box["height"] - 5)
    return {"x": x, "rows": rows}
result = _scan(FRACTION, KEYS)
"""


def scan_sidebar(session: GuiSession, fraction: float = 0.6, keys: str = "ctrl+shift+c") -> dict[str, list[dict]]:
    """What the visible sidebar copies down one column: {copied text: [{x, y, top, bottom}, ...]},
    one entry per button (a run of rows that copy the same text)."""
    scan = session.call(f"FRACTION, KEYS = {fraction!r}, {keys!r}\n" + SCAN)
    found: dict[str, list[dict]] = {}
    run: list = []
    for y, text in scan["rows"] + [[None, None]]:
        if run and text != run[0][1]:
            if run[0][1]:
                found.setdefault(run[0][1], []).append(
                    {"x": scan["x"], "y": (run[0][0] + run[-1][0]) // 2, "top": run[0][0], "bottom": run[-1][0]})
            run = []
        if text is not None:
            run.append((y, text))
    return found


PROBE = """
wm = bpy.context.window_manager
def _probe(points, keys):
    copied = []
    for x, y in points:
        wm.clipboard = ""
        xdotool("mousemove", x, y, "sleep", "0.03", "key", keys)
        yield 0.05
        copied.append(wm.clipboard)
    return copied
result = _probe(POINTS, KEYS)
"""


def probe(session: GuiSession, points, keys: str = "ctrl+c") -> list[str]:
    """What each (x, y) copies with ``keys`` (Ctrl+C: an operator's command; Ctrl+Shift+C: a
    property's data path)."""
    return session.call(f"POINTS, KEYS = {[list(p) for p in points]!r}, {keys!r}\n" + PROBE)


def open_performance_panel(session: GuiSession) -> int:
    """Open the (closed by default) Performance sub-panel by clicking its header, as a user does.
    Headers copy nothing, so: the Performance header is the one right above the Takes panel's;
    click upwards from the Variations button until the rows under the click copy Performance
    paths (a click that closed Takes instead is clicked again). The y of the header clicked."""
    variations = session.call("result = find_operator_button('mouthpiece.variations')")
    x, top = variations["x"], variations["top"]
    scale = session.call("result = bpy.context.preferences.system.ui_scale")
    # Above Variations: the Takes header (about 10-32 px up at 1x), then Performance's.
    for y in range(top - int(38 * scale), top - int(120 * scale), -4):
        session.click(x, y)
        session.call("result = wait(0.3)")
        if probe(session, [(x, variations["y"])])[0].startswith("bpy.ops.mouthpiece.variations("):
            continue  # between headers: nothing changed
        below = probe(session, [(x, y + dy) for dy in range(12, 90, 6)], "ctrl+shift+c")
        if any(text.startswith("mouthpiece.performance.") for text in below):
            return y
        session.click(x, y)  # that was the Takes header: open it again
        session.call("result = wait(0.3)")
    raise GuiError("no click above the Takes panel opened the Performance panel")
