"""The Performance panel (issue 12) and the language and dialogue text (issue 13), in real bpy
against the real sidecar with the tiny model: the panels draw, a job sends exactly the set style
keys, the language and the transcript, Keep Style and Match Style fill the panel, errors change
nothing, and the settings survive undo and save/reopen."""

from __future__ import annotations

import json
import os
import socket
import urllib.request

import bpy
import pytest

from addon.blender.generate import ui as generate_ui
from addon.blender.generate.job import plan_job
from addon.blender.performance import ui as performance_ui
from addon.blender.takes import ui as takes_ui
from addon.core import arkit, client, performance
from tests.blender.helpers import strip_end

pytestmark = pytest.mark.usefixtures("sidecar")

ICONS = set(bpy.types.UILayout.bl_rna.functions["prop"].parameters["icon"].enum_items.keys())


class Layout:
    """Stands in for a UILayout in background mode (there are no regions to draw into): every
    call is recorded, every property drawn must exist, every icon must be one this Blender has."""

    def __init__(self, log):
        self.log = log

    def __getattr__(self, name):
        def call(*args, **kwargs):
            icon = kwargs.get("icon")
            assert icon is None or icon in ICONS, f"{name}: no icon {icon!r} in Blender {bpy.app.version_string}"
            if name in ("prop", "prop_search"):
                data, prop = args[0], args[1]
                assert prop in data.bl_rna.properties, f"no property {prop!r} on {data}"
                self.log.append(("prop", prop, kwargs.get("text")))
            elif name == "operator":
                idname = args[0]
                category, _, op = idname.partition(".")
                assert hasattr(getattr(bpy.ops, category), op) and op in dir(getattr(bpy.ops, category)), idname
                self.log.append(("operator", idname, kwargs.get("text")))
                return _Properties()
            elif name in ("label",):
                self.log.append(("label", kwargs.get("text", args[0] if args else ""), None))
            elif name == "panel":
                return Layout(self.log), Layout(self.log)
            elif name == "template_list":
                self.log.append(("list", args[0], None))
            return Layout(self.log)
        return call

    def __setattr__(self, name, value):
        object.__setattr__(self, name, value)


class _Properties:
    def __setattr__(self, name, value):
        object.__setattr__(self, name, value)


class Context:
    def __init__(self):
        self.scene = bpy.context.scene
        self.active_object = bpy.context.active_object
        self.preferences = bpy.context.preferences
        self.window_manager = bpy.context.window_manager
        self.region = type("Region", (), {"width": 300})()


def draw(panel) -> list:
    log = []
    holder = type("Panel", (), {})()
    holder.layout = Layout(log)
    panel.draw(holder, Context())
    return log


def performance_settings():
    return bpy.context.scene.mouthpiece.performance


def sidecar_has(info, what: str) -> bool:
    """Whether the sidecar's API has ``what``: a JobRequest field, or a path."""
    request = urllib.request.Request(info["url"] + "/openapi.json", headers={"Authorization": f"Bearer {info['token']}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        spec = json.load(response)
    if what.startswith("/"):
        return what in spec.get("paths", {})
    return what in spec["components"]["schemas"]["JobRequest"]["properties"]


def add_text(scene, text: str, start: int, end: int, channel: int = 3):
    editor = scene.sequence_editor_create()
    strips = editor.strips if hasattr(editor, "strips") else editor.sequences
    strip = strips.new_effect(name=f"text {channel}", type="TEXT", channel=channel, frame_start=start,
                              **({"length": end - start} if bpy.app.version >= (5, 0) else {"frame_end": end}))
    strip.text = text
    return strip


def test_the_panels_draw(speech_scene):
    settings = performance_settings()
    log = draw(performance_ui.MOUTHPIECE_PT_performance)
    drawn = [p for kind, p, _ in log if kind == "prop"]
    for key in performance.KEYS:
        assert key in drawn and f"use_{key}" in drawn
    assert "style_guidance" in drawn
    assert ("operator", "mouthpiece.match_style", None) in log and ("operator", "mouthpiece.reset_performance", None) in log
    assert any(kind == "label" and "each take draws its own style" in p for kind, p, _ in log)
    settings.use_smile = True
    assert not any(kind == "label" and "each take draws" in p for kind, p, _ in draw(
        performance_ui.MOUTHPIECE_PT_performance))
    log = draw(generate_ui.MOUTHPIECE_PT_generate)
    assert ("prop", "language", None) in log and ("prop", "dialogue", "Dialogue") in log
    scene, _, strip = speech_scene
    add_text(scene, "the words on screen", 20, 60)
    assert any(kind == "label" and "the words on screen" in p for kind, p, _ in draw(generate_ui.MOUTHPIECE_PT_generate))
    draw(takes_ui.MOUTHPIECE_PT_takes)


def test_a_job_sends_the_set_style_keys_the_language_and_the_dialogue(speech_scene):
    scene, obj, strip = speech_scene
    plan = plan_job("generate", bpy.context)
    assert not {"style", "style_guidance", "language", "transcript"} & set(plan.build_request())
    settings = performance_settings()
    settings.articulation, settings.use_articulation = 1.6, True
    settings.smile = 0.7  # not set: not sent
    settings.emotion, settings.use_emotion = "sad", True
    settings.intensity, settings.use_intensity = 0.5, True
    settings.style_guidance = 2.0
    scene.mouthpiece.language = "es"
    add_text(scene, "hola que tal", 30, 70)
    end = int(strip_end(strip))
    add_text(scene, "never heard", end + 50, end + 60, channel=4)
    body = plan_job("generate", bpy.context).build_request()
    assert body["style"] == {"articulation": 1.6, "emotion": "sad", "intensity": 0.5}
    assert body["style_guidance"] == 2.0 and body["language"] == "es" and body["transcript"] == "hola que tal"
    scene.mouthpiece.dialogue = "typed words"
    assert plan_job("generate", bpy.context).build_request()["transcript"] == "typed words"
    scene.mouthpiece.language = "und"   # "Other language": the model's own detector alone
    assert plan_job("generate", bpy.context).build_request()["language"] == "und"
    assert bpy.ops.mouthpiece.reset_performance() == {"FINISHED"}
    body = plan_job("generate", bpy.context).build_request()
    assert "style" not in body and "style_guidance" not in body


def test_variations_take_the_set_keys_and_keep_style_copies_one(speech_scene, sidecar):
    scene, obj, strip = speech_scene
    settings = performance_settings()
    assert sidecar_has(sidecar, "style") and sidecar_has(sidecar, "/v1/style")
    settings.smile, settings.use_smile = -0.6, True
    settings.emotion, settings.use_emotion = "happy", True
    settings.intensity, settings.use_intensity = 0.8, True
    assert bpy.ops.mouthpiece.variations(count=2) == {"FINISHED"}
    takes = obj.mouthpiece.takes
    styles = [json.loads(t.style) for t in takes]
    for style in styles:  # the set keys held, through the real sidecar
        assert (style["smile"], style["emotion"], style["intensity"]) == pytest.approx((-0.6, "happy", 0.8))
    assert styles[0]["articulation"] != styles[1]["articulation"]  # unset: drawn per take
    log = draw(takes_ui.MOUTHPIECE_PT_takes)
    assert ("list", "MOUTHPIECE_UL_takes", None) in log and ("operator", "mouthpiece.keep_style", "") in log
    row_log = []
    takes_ui.MOUTHPIECE_UL_takes.draw_item(None, Context(), Layout(row_log), obj.mouthpiece, takes[1], None,
                                           None, "takes", 1)
    assert any(kind == "label" and "happy 0.8" in p for kind, p, _ in row_log), row_log
    assert bpy.ops.mouthpiece.reset_performance() == {"FINISHED"}
    assert bpy.ops.mouthpiece.keep_style(index=1) == {"FINISHED"}
    kept = json.loads(takes[1].style)
    for key in performance.KEYS:
        assert getattr(settings, f"use_{key}"), key
        expected = kept[key]
        assert getattr(settings, key) == (expected if key == "emotion" else pytest.approx(expected, abs=1e-4))
    assert bpy.ops.mouthpiece.preview_take(index=-1) == {"FINISHED"}  # back to the original to generate
    assert plan_job("generate", bpy.context).build_request()["style"] == \
        {k: (v if k == "emotion" else pytest.approx(v, abs=1e-4)) for k, v in kept.items() if k in performance.KEYS}


def _animate(obj, start: int, end: int) -> None:
    """Mouth movement keyed over [start, end] (jawOpen and mouthSmile)."""
    key = obj.data.shape_keys
    for frame in range(start, end + 1, 3):
        for name, value in (("jawOpen", 0.6 if frame % 2 else 0.05), ("mouthSmileLeft", 0.4)):
            key.key_blocks[name].value = value
            key.key_blocks[name].keyframe_insert("value", frame=frame)


def test_match_style_fills_the_panel_from_a_range_or_reports(speech_scene, sidecar, monkeypatch):
    scene, obj, strip = speech_scene
    settings = performance_settings()
    scene.use_preview_range = True
    scene.frame_preview_start, scene.frame_preview_end = 20, 70
    before = {k: getattr(settings, k) for k in settings.bl_rna.properties.keys() if k != "rna_type"}
    with pytest.raises(RuntimeError, match="No animation on the mapped shape keys in frames 20-70"):
        bpy.ops.mouthpiece.match_style(source="RANGE")
    with pytest.raises(RuntimeError, match="There are no takes"):
        bpy.ops.mouthpiece.match_style(source="TAKE")
    _animate(obj, 20, 70)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    monkeypatch.setenv("MOUTHPIECE_URL", dead)
    with pytest.raises(RuntimeError, match="Match Style: Cannot reach"):
        bpy.ops.mouthpiece.match_style(source="RANGE")
    monkeypatch.setenv("MOUTHPIECE_URL", sidecar["url"])
    assert {k: getattr(settings, k) for k in before} == before
    # The real sidecar infers the style from the keyed animation on frames 20-70 (POST /v1/style).
    assert bpy.ops.mouthpiece.match_style(source="RANGE") == {"FINISHED"}
    for key in performance.KEYS:
        assert getattr(settings, f"use_{key}"), key
    for key, (low, high) in performance.RANGES.items():
        assert low <= getattr(settings, key) <= high
    assert settings.emotion in performance.EMOTIONS
    # From a take: the take's own animation.
    assert bpy.ops.mouthpiece.reset_performance() == {"FINISHED"}
    scene.use_preview_range = False
    assert bpy.ops.mouthpiece.variations(count=1) == {"FINISHED"}
    assert bpy.ops.mouthpiece.match_style(source="TAKE", index=0) == {"FINISHED"}
    assert all(getattr(settings, f"use_{key}") for key in performance.KEYS)


def test_the_settings_survive_undo_and_save_reopen(speech_scene, tmp_path):
    scene, obj, strip = speech_scene
    bpy.ops.ed.undo_push(message="before")
    settings = performance_settings()
    settings.blink_rate, settings.use_blink_rate = 2.5, True
    settings.emotion, settings.use_emotion = "angry", True
    settings.style_guidance = 3.0
    scene.mouthpiece.language = "ja"
    scene.mouthpiece.dialogue = "konnichiwa"
    bpy.ops.ed.undo_push(message="set")
    state = lambda s: (s.mouthpiece.performance.blink_rate, s.mouthpiece.performance.use_blink_rate,  # noqa: E731
                       s.mouthpiece.performance.emotion, s.mouthpiece.performance.use_emotion,
                       s.mouthpiece.performance.style_guidance, s.mouthpiece.language, s.mouthpiece.dialogue)
    chosen = state(scene)
    assert chosen == (2.5, True, "angry", True, 3.0, "ja", "konnichiwa")
    assert bpy.ops.ed.undo() == {"FINISHED"}
    assert state(bpy.context.scene) == (1.0, False, "neutral", False, 1.0, "auto", "")
    assert bpy.ops.ed.redo() == {"FINISHED"}
    assert state(bpy.context.scene) == chosen
    path = tmp_path / "performance.blend"
    bpy.ops.wm.save_as_mainfile(filepath=str(path))
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.wm.open_mainfile(filepath=str(path))
    assert state(bpy.context.scene) == chosen


def test_on_a_library_override_take_styles_and_the_panel_are_kept(tmp_path, speech_wav):
    """A never-mapped library face, overridden: its takes (with their styles) live where
    rig.data.settings_of puts them, the Performance settings in the shot's scene; both are saved."""
    from addon.blender.rig.data import settings_of
    from tests.blender.test_override import make_library, overridden_face, save_and_reopen

    library = tmp_path / "face_lib.blend"
    make_library(library, mapped=False)
    obj = overridden_face(speech_wav, library)
    assert bpy.ops.mouthpiece.make_shape_keys_editable() == {"FINISHED"}
    assert bpy.ops.mouthpiece.variations(count=2) == {"FINISHED"}
    take = settings_of(obj).takes[1]
    style = {"articulation": 0.6, "smile": 0.2, "asymmetry": 0.0, "brow_activity": 2.0, "blink_rate": 1.0,
             "gaze_activity": 1.0, "emotion": "fearful", "intensity": 0.3}
    take.style = take.style or json.dumps(style)
    style = json.loads(take.style)
    assert bpy.ops.mouthpiece.keep_style(index=1) == {"FINISHED"}
    settings = performance_settings()
    panel = {k: getattr(settings, k) for k in performance.KEYS}
    obj = save_and_reopen(tmp_path)
    assert json.loads(settings_of(obj).takes[1].style) == style
    settings = performance_settings()
    assert {k: getattr(settings, k) for k in performance.KEYS} == panel
    assert all(getattr(settings, f"use_{k}") for k in performance.KEYS)
