"""The README's shell install command, run exactly as written through Blender's own
`blender --command extension` handler, leaves the extension enabled the next time Blender starts."""

import glob
import os
import re
import shlex
import subprocess
import sys

from tests.blender.conftest import ROOT

# `blender --command extension ARGS` runs bl_pkg's registered CLI command; the bpy module has no
# command line, so the same handler is called with the same arguments.
_RUN_COMMAND = """
import sys, bpy
sys.exit(sys.modules["bl_pkg"].cli_extension(sys.argv[sys.argv.index("--") + 1:]))
"""

# A new Blender session reads the saved preferences at startup (the bpy module starts from the
# factory ones, so it reads them the same way), then registers the enabled extensions.
_NEXT_START = """
import bpy
bpy.ops.wm.read_userpref()
name = "bl_ext.user_default.mouthpiece"
print("ENABLED" if name in bpy.context.preferences.addons and hasattr(bpy.types, "MOUTHPIECE_PT_main")
      else "DISABLED")
"""


def _readme_install_command() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    found = re.findall(r"`(blender --command extension install-file [^`]+)`", readme)
    assert len(found) == 1, found
    return shlex.split(found[0])


def _install_as_written(tmp_path, command: list[str]) -> str:
    """Run ``command`` in a folder with the built zip under dist/, as the README's reader does."""
    subprocess.run(["bash", str(ROOT / "scripts" / "build_extension"), str(tmp_path / "dist")],
                   capture_output=True, text=True, check=True)
    assert command[:3] == ["blender", "--command", "extension"], command
    args = []
    for arg in command[3:]:  # the shell expands the glob
        args.extend(sorted(glob.glob(str(tmp_path / arg))) if "*" in arg else [arg])
    env = {**os.environ, "BLENDER_USER_RESOURCES": str(tmp_path / "user")}
    run = subprocess.run([sys.executable, "-c", _RUN_COMMAND, "--", *args], cwd=tmp_path,
                         capture_output=True, text=True, env=env)
    assert run.returncode == 0 and 'Installed "mouthpiece"' in run.stdout, run.stdout[-2000:] + run.stderr[-2000:]
    start = subprocess.run([sys.executable, "-c", _NEXT_START], cwd=tmp_path, capture_output=True, text=True, env=env)
    lines = start.stdout.split()
    return lines[-1] if lines and lines[-1] in ("ENABLED", "DISABLED") else start.stdout[-2000:] + start.stderr[-2000:]


def test_readme_install_command_leaves_the_extension_enabled(tmp_path):
    assert _install_as_written(tmp_path, _readme_install_command()) == "ENABLED"


def test_without_enable_flag_it_would_be_installed_but_off(tmp_path):
    """The check above can fail: the same command without -e installs the extension disabled."""
    command = [a for a in _readme_install_command() if a not in ("-e", "--enable")]
    assert _install_as_written(tmp_path, command) == "DISABLED"
