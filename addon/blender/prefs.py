"""Add-on preferences: how to reach the sidecar, and the generation defaults."""

import os
import shlex
from dataclasses import dataclass
from pathlib import Path

import bpy

from ..core import client

# "addon" when registered from a checkout, "bl_ext.<repo>.mouthpiece" as an installed extension.
ADDON_PACKAGE = __package__.rpartition(".")[0]


def _checkout_root() -> Path | None:
    """The repository the add-on runs from, when it runs from a checkout (it has server/)."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "server" / "__main__.py").is_file() else None


def _default_python() -> str:
    root = _checkout_root()
    if root is None:
        return ""
    for candidate in (root / ".venv" / "bin" / "python", root / ".venv" / "Scripts" / "python.exe"):
        if candidate.exists():
            return str(candidate)
    return ""


def _connection_changed(self, context) -> None:
    """Any change to how the sidecar is reached re-checks it (on a thread: drawing never waits),
    so the panel shows the new state without pressing its refresh button."""
    from .sidecar import operator as sidecar_operator  # the sidecar layer imports this module

    sidecar_operator.check_in_background(connection_settings(context))


class MouthpiecePreferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_PACKAGE

    connection: bpy.props.EnumProperty(
        name="Sidecar",
        items=(("START", "Start Locally", "Start the sidecar on this computer when needed"),
               ("URL", "Connect to URL", "Use a sidecar that is already running (another machine or a farm)")),
        default="START", update=_connection_changed,
    )
    python_path: bpy.props.StringProperty(
        name="Python", subtype="FILE_PATH", default=_default_python(),
        description="The Python of the Mouthpiece environment (it runs `python -m server serve`)",
        update=_connection_changed,
    )
    project_dir: bpy.props.StringProperty(
        name="Project Folder", subtype="DIR_PATH", default=str(_checkout_root() or ""),
        description="The folder that holds Mouthpiece's `server` package (the working directory of the sidecar)",
        update=_connection_changed,
    )
    command: bpy.props.StringProperty(
        name="Command",
        description="A full command that starts the sidecar instead of Python and Project Folder, e.g. "
                    "`mouthpiece serve --port 0`; it must print its JSON startup line",
        update=_connection_changed,
    )
    checkpoint: bpy.props.StringProperty(
        name="Model", subtype="DIR_PATH",
        description="A model checkpoint folder for the sidecar; empty: the sidecar's default model",
        update=_connection_changed,
    )
    startup_timeout: bpy.props.FloatProperty(
        name="Startup Timeout", default=180.0, min=5.0, soft_max=600.0, subtype="TIME_ABSOLUTE", unit="TIME_ABSOLUTE",
        description="How long to wait for a started sidecar to load its model",
    )
    url: bpy.props.StringProperty(name="URL", default="http://127.0.0.1:8765", update=_connection_changed,
                                  description="The sidecar's address (the environment's MOUTHPIECE_URL wins)")
    token: bpy.props.StringProperty(name="Token", subtype="PASSWORD", update=_connection_changed,
                                    description="The sidecar's bearer token (MOUTHPIECE_TOKEN wins)")
    default_steps: bpy.props.IntProperty(name="Steps", default=0, min=0, max=200,
                                         description="Sampler steps; 0: the model's default")
    default_guidance: bpy.props.FloatProperty(name="Guidance", default=0.0, min=0.0, max=10.0,
                                              description="Audio guidance scale; 0: the model's default")
    default_samples: bpy.props.IntProperty(name="Takes", default=4, min=2, max=16,
                                           description="How many takes Variations makes")

    def draw(self, context):
        layout = self.layout
        layout.use_property_split = True
        env = client.endpoint_from_environment()
        if env is not None:
            box = layout.box()
            box.label(text=f"MOUTHPIECE_URL is set: using {env.url}", icon="INFO")
            box.label(text="The environment overrides the settings below.")
        layout.row().prop(self, "connection", expand=True)
        col = layout.column()
        if self.connection == "START":
            col.prop(self, "python_path")
            col.prop(self, "project_dir")
            col.prop(self, "command")
            col.prop(self, "checkpoint")
            col.prop(self, "startup_timeout")
            if not self.python_path and not self.command:
                hint = col.box()
                hint.label(text="Set Python to the checkout's .venv/bin/python and Project Folder", icon="INFO")
                hint.label(text="to the checkout, or give a Command that starts `mouthpiece serve`.")
        else:
            col.prop(self, "url")
            col.prop(self, "token")
        layout.separator()
        layout.label(text="Defaults for new jobs (0 = the model's own setting)")
        col = layout.column()
        col.prop(self, "default_steps")
        col.prop(self, "default_guidance")
        col.prop(self, "default_samples")


@dataclass(frozen=True)
class ConnectionSettings:
    """A snapshot of the preferences for a worker thread (which must not touch bpy)."""

    mode: str = "START"
    url: str = ""
    token: str = ""
    command: tuple[str, ...] = ()
    cwd: str = ""
    startup_timeout: float = 180.0

    def describe_command(self) -> str:
        return " ".join(shlex.quote(c) for c in self.command)


def preferences(context=None):
    """The add-on's preferences, or None when registered by a script without addon_utils."""
    context = context or bpy.context
    entry = context.preferences.addons.get(ADDON_PACKAGE)
    return entry.preferences if entry is not None else None


def _fallback(name):
    return MouthpiecePreferences.__annotations__[name].keywords.get("default")


def pref(name: str, context=None):
    prefs = preferences(context)
    return getattr(prefs, name) if prefs is not None else _fallback(name)


def connection_settings(context=None) -> ConnectionSettings:
    mode = pref("connection", context)
    python = bpy.path.abspath(pref("python_path", context) or "") or _default_python()
    project = bpy.path.abspath(pref("project_dir", context) or "") or str(_checkout_root() or "")
    command_text = pref("command", context) or ""
    if command_text.strip():
        command = tuple(shlex.split(command_text))
    elif python:
        checkpoint = bpy.path.abspath(pref("checkpoint", context) or "")
        command = tuple(client.serve_command(python, checkpoint))
    else:
        command = ()
    return ConnectionSettings(
        mode=mode,
        url=pref("url", context) if mode == "URL" else "",
        token=pref("token", context) if mode == "URL" else "",
        command=command,
        cwd=project if project and os.path.isdir(project) else "",
        startup_timeout=pref("startup_timeout", context),
    )
