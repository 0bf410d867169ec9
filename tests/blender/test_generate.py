"""mouthpiece.generate against a real sidecar: the mapped curves over the range, frame
semantics (audio time 0 = the range's first frame), renamed and partial rigs, pins."""

import base64

import bpy
import pytest

from addon.blender import compat
from addon.blender.generate.job import Job, plan_job
from addon.blender.prefs import connection_settings
from addon.core import arkit
from addon.core.mixdown import decode_wav
from tests.blender.helpers import add_sound, demo_head, fcurve, new_scene, snapshot, strip_end, values

pytestmark = pytest.mark.usefixtures("sidecar")

RENAMED = {"jawOpen": "JawOpen", "mouthSmileLeft": "mouth_smile_L", "mouthSmileRight": "mouth_smile_R",
           "mouthClose": "MouthClose", "mouthFunnel": "mouth_funnel", "eyeBlinkLeft": "EyeBlink.L",
           "browInnerUp": "ARKit_browInnerUp", "mouthPressLeft": "mouthPress_L"}


def _onset_s(wav_bytes, threshold=0.02, hop_s=0.01):
    a = decode_wav(wav_bytes)
    hop = int(a.rate * hop_s)
    for i in range(0, len(a.samples) - hop, hop):
        if max(abs(x) for x in a.samples[i:i + hop]) * a.scale > threshold:
            return i / a.rate
    raise AssertionError("silent")


def test_generate_writes_every_mapped_curve_over_the_range(speech_scene):
    scene, obj, strip = speech_scene
    assert bpy.ops.mouthpiece.generate() == {"FINISHED"}
    start, end = scene.frame_start, scene.frame_end
    for channel in arkit.CHANNELS:
        fc = fcurve(obj, channel)
        assert fc is not None, channel
        frames = [kp.co[0] for kp in fc.keyframe_points]
        assert frames[0] == start and frames[-1] == end, channel
        assert all(kp.type == "GENERATED" for kp in fc.keyframe_points)
        assert all(0.0 <= kp.co[1] <= 1.0 for kp in fc.keyframe_points)
    jaw = values(obj, "jawOpen", start, end)
    assert max(jaw) - min(jaw) > 0.01  # it moves with the speech
    assert len(fcurve(obj, "jawOpen").keyframe_points) < end - start + 1  # reduced keys
    # The automatic mapping is now stored on the object, editable in the list.
    assert {i.name: i.shape_key for i in obj.mouthpiece.mapping} == {c: c for c in arkit.CHANNELS}


def test_request_frames_start_at_the_range_start(speech_scene, speech_wav):
    scene, obj, strip = speech_scene
    scene.render.fps, scene.render.fps_base = 30, 1.001
    plan = plan_job("generate", bpy.context)
    request = plan.build_request()
    assert request["fps"] == pytest.approx(30 / 1.001)
    wav = base64.b64decode(request["audio"])
    lead = (compat.strip_span(strip)[0] - scene.frame_start) / (30 / 1.001)
    assert _onset_s(wav) == pytest.approx(lead + _onset_s(speech_wav.read_bytes()), abs=0.03)
    job = Job(plan, connection_settings())
    job.run()
    assert job.error is None
    assert len(job.takes[0].curves["jawOpen"]) == scene.frame_end - scene.frame_start + 1


def test_same_seed_same_curves_and_rerun_replaces_generated_keys(speech_scene):
    scene, obj, strip = speech_scene
    bpy.ops.mouthpiece.generate()
    first = snapshot(obj)["curves"]
    bpy.ops.mouthpiece.generate()
    assert snapshot(obj)["curves"] == first


def test_renamed_rig_gets_the_same_result(speech_wav):
    results = []
    for rename in (None, RENAMED):
        scene = new_scene(24)
        strip = add_sound(scene, speech_wav, 11)
        scene.frame_start, scene.frame_end = 5, int(strip_end(strip)) + 4
        obj = demo_head(rename)
        assert bpy.ops.mouthpiece.generate() == {"FINISHED"}
        names = {c: (rename or {}).get(c, c) for c in arkit.CHANNELS}
        results.append({c: [tuple(kp.co) for kp in fcurve(obj, names[c]).keyframe_points] for c in arkit.CHANNELS})
    assert results[0] == results[1]


def test_partial_rig_works_with_what_it_has(speech_scene):
    scene, obj, strip = speech_scene
    keep = {"Basis", "jawOpen", "mouthClose", "mouthFunnel", "mouthPucker", "mouthSmileLeft"}
    for block in list(obj.data.shape_keys.key_blocks):
        if block.name not in keep:
            obj.shape_key_remove(block)
    bpy.ops.mouthpiece.generate()
    animated = {fc.data_path for fc in _all_fcurves(obj)}
    assert animated == {f'key_blocks["{n}"].value' for n in keep - {"Basis"}}


def _all_fcurves(obj):
    from addon.blender import compat
    key = obj.data.shape_keys
    return list(compat.fcurves_of(key.animation_data.action, key))


def test_pins_are_met_exactly(speech_scene):
    scene, obj, strip = speech_scene
    key = obj.data.shape_keys
    pins = {("jawOpen", 20): 0.85, ("jawOpen", 40): 0.0, ("mouthSmileLeft", 30): 0.6}
    for (channel, frame), value in pins.items():
        key.key_blocks[channel].value = value
        key.key_blocks[channel].keyframe_insert("value", frame=frame)
    plan = plan_job("generate", bpy.context)
    sent = {(k["channel"], k["frame"] + scene.frame_start): k["value"] for k in plan.build_request()["keys"]}
    assert sent == pytest.approx(pins)
    job = Job(plan, connection_settings())
    job.run()
    raw = job.takes[0].curves
    for (channel, frame), value in pins.items():  # the sidecar met them at the right frames
        assert raw[channel][frame - scene.frame_start] == pytest.approx(value, abs=1e-4)
    bpy.ops.mouthpiece.generate()
    for (channel, frame), value in pins.items():
        fc = fcurve(obj, channel)
        assert fc.evaluate(frame) == pytest.approx(value, abs=1e-6)
        pin = [kp for kp in fc.keyframe_points if kp.co[0] == frame]
        assert len(pin) == 1 and pin[0].type == "KEYFRAME"
    # Pins off: the animator's keys are replaced too.
    scene.mouthpiece.use_pins = False
    bpy.ops.mouthpiece.generate()
    assert all(kp.type == "GENERATED" for kp in fcurve(obj, "jawOpen").keyframe_points)


def test_every_frame_option(speech_scene):
    scene, obj, strip = speech_scene
    scene.mouthpiece.key_mode = "EVERY_FRAME"
    bpy.ops.mouthpiece.generate()
    assert len(fcurve(obj, "jawOpen").keyframe_points) == scene.frame_end - scene.frame_start + 1


def test_preview_range_limits_the_generation(speech_scene):
    scene, obj, strip = speech_scene
    scene.use_preview_range = True
    scene.frame_preview_start, scene.frame_preview_end = 15, 45
    bpy.ops.mouthpiece.generate()
    frames = [kp.co[0] for kp in fcurve(obj, "jawOpen").keyframe_points]
    # Keys from 15 to 45, and an edge key half a frame out each side that holds the face outside
    # at its rest value (test_animator_decisions checks the values).
    assert frames[0] == 14.5 and frames[-1] == 45.5
    assert frames[1] == 15 and frames[-2] == 45
