"""The built extension installs and enables through Blender's own extension system, and the
demo head carries all 52 ARKit shapes, each one visible and left/right mirrored."""

import math
import os
import subprocess
import sys

import bpy

from addon.core import arkit
from tests.blender.conftest import ROOT
from tests.blender.helpers import demo_head, new_scene

_INSTALL = """
import bpy, sys
zip_path = sys.argv[-1]
assert bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default",
                                                 enable_on_install=True) == {"FINISHED"}
name = "bl_ext.user_default.mouthpiece"
assert name in bpy.context.preferences.addons, list(bpy.context.preferences.addons.keys())
prefs = bpy.context.preferences.addons[name].preferences
assert prefs.connection == "START" and prefs.default_samples == 4
bpy.ops.mouthpiece.add_demo_head()
bpy.ops.mouthpiece.auto_map()
assert len(bpy.context.active_object.mouthpiece.mapping) == 52
import addon_utils
addon_utils.disable(name)
assert not hasattr(bpy.types.Object, "mouthpiece")
print("EXTENSION-OK")
"""


def test_built_zip_installs_as_an_extension(tmp_path):
    out = subprocess.run(["bash", str(ROOT / "scripts" / "build_extension"), str(tmp_path)],
                         capture_output=True, text=True, check=True)
    zip_path = tmp_path / "mouthpiece-0.1.0.zip"
    assert zip_path.exists(), out.stdout + out.stderr
    assert "Success" in out.stdout  # Blender's validator accepted the manifest
    env = {**os.environ, "BLENDER_USER_RESOURCES": str(tmp_path / "user")}
    run = subprocess.run([sys.executable, "-c", _INSTALL, str(zip_path)], capture_output=True, text=True, env=env)
    assert "EXTENSION-OK" in run.stdout, run.stdout[-2000:] + run.stderr[-2000:]


def test_demo_head_has_every_arkit_shape_and_each_reads():
    new_scene()
    obj = demo_head()
    blocks = obj.data.shape_keys.key_blocks
    assert [b.name for b in blocks] == ["Basis", *arkit.CHANNELS]
    basis = [v.co.copy() for v in blocks["Basis"].data]
    moved = {}
    for name in arkit.CHANNELS:
        moved[name] = max((p.co - b).length for p, b in zip(blocks[name].data, basis))
        assert moved[name] > 0.04, f"{name} barely moves ({moved[name]:.3f})"
    assert moved["jawOpen"] > 0.15
    # Left and right shapes mirror each other across x = 0, vertex by vertex.
    # (Vertices of different parts that share a position are left out of the comparison.)
    spots = {}
    for i, b in enumerate(basis):
        spots.setdefault((round(b.x, 4), round(b.y, 4), round(b.z, 4)), []).append(i)
    mirror = {i: spots.get((round(-b.x, 4), round(b.y, 4), round(b.z, 4)), [None, None])
              for i, b in enumerate(basis)}
    mirror = {i: m[0] for i, m in mirror.items() if len(m) == 1}
    assert len(mirror) > 0.9 * len(basis)
    for left in (n for n in arkit.CHANNELS if n.endswith("Left")):
        right = left[: -len("Left")] + "Right"
        worst = 0.0
        for i, b in enumerate(basis):
            if i not in mirror:
                continue
            d_left = blocks[left].data[i].co - b
            d_right = blocks[right].data[mirror[i]].co - basis[mirror[i]]
            worst = max(worst, math.dist((-d_left.x, d_left.y, d_left.z), tuple(d_right)))
        assert worst < 1e-4, f"{left} and {right} are not mirror images ({worst:.4f})"
