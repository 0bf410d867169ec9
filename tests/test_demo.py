"""The demo (scripts/demo): its story lands on the right sounds, and the whole run in real
headless Blender against a real sidecar writes what it promises and leaves no sidecar behind."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from addon.core import curvefile
from addon.core.arkit import INDEX
from addon.core.client import TOKEN_SHOWN_AS
from server.audio import load_audio
from server.demo import story
from server.speech.alignment import Alignment, align
from server.timebase import num_frames

ROOT = Path(__file__).resolve().parent.parent
BLENDER_PYTHON = ROOT / ".venv-bpy45" / "bin" / "python"


@pytest.fixture(scope="module")
def sample():
    audio = load_audio(str(story.SAMPLE_WAV))
    return audio, align(audio.samples, story.SAMPLE_TEXT)


def _phone_at(alignment, seconds):
    return next(p for p, s, e in alignment.phones if s <= seconds < e)


def test_story_pins_and_shots_land_on_their_phones(sample):
    audio, alignment = sample
    plan = story.plan(alignment, audio.duration)
    assert plan["frame_end"] - plan["frame_start"] + 1 == num_frames(audio.duration, story.FPS)
    seconds = lambda frame: (frame - plan["frame_start"]) / plan["fps"]  # noqa: E731
    for pin in plan["pins"] + plan["render"]:
        assert _phone_at(alignment, seconds(pin["frame"])) == pin["phone"], pin
    # The edits do not overlap one another, so the figure shows each where it happened.
    spans = sorted([(min(p["frame"] for p in plan["pins"]), max(p["frame"] for p in plan["pins"])),
                    (plan["regenerate"]["start"], plan["regenerate"]["end"]),
                    (plan["variations"]["start"], plan["variations"]["end"])])
    assert all(a[1] < b[0] for a, b in zip(spans, spans[1:]))
    assert plan["frame_start"] <= spans[0][0] and spans[-1][1] <= plan["frame_end"]


def test_story_names_the_word_it_cannot_find(sample):
    audio, alignment = sample
    words = [w for w in alignment.words if w[0] != "bowl"]
    with pytest.raises(story.StoryError, match="'bowl'"):
        story.plan(Alignment(alignment.phones, words, "", 0.0), audio.duration)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()


@pytest.mark.skipif(not BLENDER_PYTHON.exists(), reason="needs .venv-bpy45 (scripts/setup_blender_envs --only 45)")
def test_demo_runs_end_to_end_in_headless_blender(tiny_checkpoint, tmp_path, sample):
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "server.demo", "--checkpoint", str(tiny_checkpoint),
                          "--threads", "1", "--render-size", "96", "--out", str(out)],
                         cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Mouthpiece demo: done" in run.stdout and "time per stage" in run.stdout

    # The sidecar it started (its startup line is in its log) is gone.
    startup = next(json.loads(line) for line in (out / "demo_sidecar.log").read_text().splitlines()
                   if line.startswith('{"url"'))
    assert not _pid_alive(startup["pid"])
    # The log is private and never holds the token (the state file, 0600, is where it lives).
    assert stat.S_IMODE((out / "demo_sidecar.log").stat().st_mode) == 0o600
    assert startup["token"] == TOKEN_SHOWN_AS

    result = json.loads((out / "demo_run.json").read_text())
    audio, alignment = sample
    plan_story = story.plan(alignment, audio.duration)
    take = curvefile.read_csv(out / "demo.csv", fps=story.FPS)
    curves = np.asarray(take.frames)
    assert len(curves) == plan_story["frame_end"] - plan_story["frame_start"] + 1
    for pin in plan_story["pins"]:  # the final curves still meet the pinned poses
        for channel, value in pin["values"].items():
            assert curves[pin["frame"] - plan_story["frame_start"], INDEX[channel]] == pytest.approx(value, abs=2e-6)
    # The kept take is what the CSV holds over the variations range.
    var = plan_story["variations"]
    kept = np.asarray(result["take_frames"][var["keep"]])
    rows = curves[var["start"] - plan_story["frame_start"]:var["end"] - plan_story["frame_start"] + 1]
    assert np.abs(rows - kept).max() < 2e-6
    assert result["kept"]["seed"] == var["seed"] + var["keep"]
    assert len({json.dumps(t) for t in result["take_frames"]}) == var["count"]  # distinct takes

    for name in ("demo.png", "demo_strip.png"):
        with open(out / name, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n", name
    assert len(result["rendered"]) == len(plan_story["render"])

    # demo.blend opens with the packed sound strip and the animation, no takes left over.
    check = subprocess.run([str(BLENDER_PYTHON), "-c", _OPEN_BLEND, str(out / "demo.blend")],
                           capture_output=True, text=True)
    opened = json.loads(check.stdout.strip().splitlines()[-1])
    assert opened == {"strips": ["hello"], "packed": True, "fcurves": 52, "takes": 0,
                      "range": [plan_story["frame_start"], plan_story["frame_end"]]}


_OPEN_BLEND = """
import json, os, sys
import bpy
sys.path.insert(0, %r)
bpy.ops.wm.open_mainfile(filepath=sys.argv[-1])
import addon
addon.register()
from addon.blender import compat
scene = bpy.context.scene
head = bpy.data.objects["Mouthpiece Demo Head"]
key = head.data.shape_keys
strips = [s for s in compat.sequencer_strips(scene) if s.type == "SOUND"]
print(json.dumps({"strips": [s.name for s in strips], "packed": strips[0].sound.packed_file is not None,
                  "fcurves": len(compat.fcurves_of(key.animation_data.action, key)),
                  "takes": len(head.mouthpiece.takes),
                  "range": [scene.frame_start, scene.frame_end]}))
sys.stdout.flush()
os._exit(0)
""" % str(ROOT)
