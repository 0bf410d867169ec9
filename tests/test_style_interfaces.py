"""The performance style through every interface: the engine's contract with the tiny
style-conditioned model, style inference ("match this take") on teacher curves, the CLI's
--style/--emotion/--match and `mouthpiece style`, the HTTP API's fields and POST /v1/style, and the
add-on client's requests."""

from __future__ import annotations

import base64
import copy
import json

import numpy as np
import pytest

from addon.core import arkit
from addon.core.curvefile import CurveTake, read_json, write_livelink_csv
from server.style import CONTROLS, KEYS
from tests.test_cli import run


@pytest.fixture(scope="module")
def audio(speech_wav):
    from server.audio import load_audio

    return load_audio(speech_wav)


def _teacher_take(style, seconds=(8.0, 12.0), seed=0, fps=30.0):
    from server.style_infer import references, synthetic_phones
    from server.teacher import teacher_curves

    rng = np.random.default_rng(1000 + seed)  # not the fit's seed: phones and blinks it never saw
    phones, duration = references([synthetic_phones(rng) for _ in range(6)], 1, rng, seconds)[0]
    return teacher_curves(phones, duration, fps=fps, style=style, seed=seed)


# --- the engine's contract ----------------------------------------------------------------------


def test_unset_dimensions_are_sampled_per_take(engine, audio):
    from server.engine import GenerationRequest

    assert engine.info()["style"] and engine.info()["closure_detector"]
    result = engine.generate(GenerationRequest(audio=audio, samples=2, seed=3, steps=4,
                                               style={"articulation": 1.5}))
    a, b = result.styles
    assert a["articulation"] == b["articulation"] == 1.5
    assert any(a[k] != b[k] for k in CONTROLS if k != "articulation")
    assert a["emotion"] == b["emotion"] == "neutral"  # an unset emotion stays neutral
    assert set(a) == set(KEYS)
    assert "detector" in result.closure_sources


def test_same_seed_and_style_reproduce_exactly(engine, audio):
    from server.engine import GenerationRequest

    request = dict(audio=audio, samples=1, seed=11, steps=4, style={"smile": -0.5, "emotion": "sad",
                                                                       "intensity": 0.5}, style_guidance=2.0)
    first, second = (engine.generate(GenerationRequest(**request)) for _ in range(2))
    assert first.styles == second.styles and np.array_equal(first.takes, second.takes)
    assert first.styles[0]["emotion"] == "sad" and first.styles[0]["intensity"] == 0.5
    assert first.style_guidance == 2.0
    other = engine.generate(GenerationRequest(**{**request, "style": {"smile": 0.8}}))
    assert np.abs(other.takes - first.takes).max() > 1e-4  # the style reaches the model


def test_pins_are_exact_under_a_non_neutral_style(engine, audio):
    from server.engine import GenerationRequest, Key

    keys = [Key(10, "jawOpen", 0.8), Key(25, "mouthSmileLeft", 0.0), Key(40, "browInnerUp", 0.6)]
    result = engine.generate(GenerationRequest(audio=audio, samples=2, seed=5, steps=4, keys=keys,
                                               style={"emotion": "angry", "intensity": 1.0, "articulation": 2.0,
                                                      "smile": 1.0}, style_guidance=3.0))
    for take in result.takes:
        for key in keys:
            assert abs(take[key.frame, arkit.INDEX[key.channel]] - key.value) <= 1e-5


def test_a_model_without_a_style_input_refuses_a_style(engine, audio):
    from server.engine import GenerationRequest
    from server.errors import InputError

    plain = copy.copy(engine)
    plain.style_dim = 0
    with pytest.raises(InputError, match="no style input"):
        plain.generate(GenerationRequest(audio=audio, steps=2, style={"smile": 0.5}))
    assert plain.generate(GenerationRequest(audio=audio, steps=2)).styles is None


@pytest.mark.parametrize("style,message", [
    ({"articulation": 2.5}, "style.articulation: 2.5 is outside 0 to 2"),
    ({"grin": 1}, "unknown key 'grin'"),
    ({"emotion": "bored"}, "not one of neutral"),
    ({"intensity": 0.5}, "style.intensity: give it with an emotion"),
])
def test_the_engine_names_a_bad_style_value(engine, audio, style, message):
    from server.engine import GenerationRequest
    from server.errors import InputError

    with pytest.raises(InputError, match=message):
        engine.generate(GenerationRequest(audio=audio, steps=2, style=style))


# --- style inference --------------------------------------------------------------------------


def test_inferred_style_is_within_0_2_on_average_on_held_out_teacher_curves():
    from server.style_infer import infer_style
    from server.teacher.style import Style

    rng = np.random.default_rng(77)
    errors, named = [], []
    for i in range(24):
        true = Style.random_broad(rng)
        got = infer_style(_teacher_take(true, seed=i), 30.0)
        errors.append([abs(getattr(got, k) - getattr(true, k)) for k in CONTROLS + ("intensity",)])
        named.append(got.emotion == true.emotion)
    per_key = np.mean(errors, axis=0)
    assert per_key.mean() < 0.2, dict(zip(CONTROLS + ("intensity",), per_key.round(3)))
    assert np.mean(named) >= 0.85
    for k in ("articulation", "smile", "asymmetry", "intensity"):
        assert per_key[(CONTROLS + ("intensity",)).index(k)] < 0.1, k


def test_inference_reads_any_frame_rate_and_refuses_short_or_bad_curves():
    from server.style_infer import StyleInferenceError, infer_style
    from server.teacher.style import Style

    true = Style(articulation=1.6, smile=-0.5, emotion="surprised", intensity=0.7)
    at30 = infer_style(_teacher_take(true, seed=3), 30.0)
    at60 = infer_style(_teacher_take(true, seed=3, fps=60.0), 60.0)
    assert at30.emotion == at60.emotion == "surprised"
    assert abs(at30.articulation - at60.articulation) < 0.15 and abs(at30.smile - at60.smile) < 0.1
    with pytest.raises(StyleInferenceError, match="too short"):
        infer_style(np.zeros((5, 52)), 30.0)
    with pytest.raises(StyleInferenceError, match="frames x 52"):
        infer_style(np.zeros((50, 51)), 30.0)
    with pytest.raises(StyleInferenceError, match="NaN"):
        infer_style(np.full((50, 52), np.nan), 30.0)


# --- the CLI ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def llf_reference(tmp_path_factory):
    """A Live Link Face CSV (60 fps) of a teacher take in a known style."""
    from server.teacher.style import Style

    path = tmp_path_factory.mktemp("ref") / "reference.csv"
    style = Style(articulation=0.5, smile=0.6, brow_activity=2.0, emotion="happy", intensity=0.8)
    write_livelink_csv(path, CurveTake(fps=60.0, frames=_teacher_take(style, seed=1, fps=60.0).tolist()))
    return path, style


def test_mouthpiece_style_prints_one_json_object_with_the_style_keys(llf_reference):
    path, style = llf_reference
    p = run("style", path)
    got = json.loads(p.stdout)
    assert list(got) == list(KEYS)
    assert got["emotion"] == "happy" and abs(got["intensity"] - 0.8) < 0.2
    assert abs(got["articulation"] - 0.5) < 0.2 and abs(got["smile"] - 0.6) < 0.15


def test_generate_with_style_and_emotion_records_each_takes_style(tiny_checkpoint, speech_wav, tmp_path):
    out = tmp_path / "take.json"
    p = run("generate", speech_wav, "-o", out, "--checkpoint", tiny_checkpoint, "--samples", "2", "--steps", "4",
            "--style", "articulation=1.5,smile=-0.25", "--emotion", "sad:0.5", "--style-guidance", "1.5",
            "--language", "en")
    for i in range(2):
        meta = read_json(tmp_path / f"take.{i}.json").meta
        assert meta["seed"] == i and meta["style_guidance"] == 1.5
        assert meta["style"]["articulation"] == 1.5 and meta["style"]["smile"] == -0.25
        assert meta["style"]["emotion"] == "sad" and meta["style"]["intensity"] == 0.5
        assert "recogniser" in meta["closure_sources"]  # English: the recogniser is used
    assert p.stdout.count("style: articulation=1.5 smile=-0.25") == 2 and "emotion=sad:0.5" in p.stdout


def test_generate_matches_a_reference_and_explicit_keys_override_it(tiny_checkpoint, speech_wav, tmp_path,
                                                                   llf_reference):
    path, _style = llf_reference
    inferred = json.loads(run("style", path).stdout)
    out = tmp_path / "matched.json"
    run("generate", speech_wav, "-o", out, "--checkpoint", tiny_checkpoint, "--steps", "4", "--match", path,
        "--style", "articulation=1.9", "--lip-closure", "0")
    style = read_json(out).meta["style"]
    assert style["articulation"] == 1.9
    for key in ("smile", "brow_activity", "emotion", "intensity"):
        assert style[key] == inferred[key], key
    neutral = tmp_path / "neutral.json"
    run("generate", speech_wav, "-o", neutral, "--checkpoint", tiny_checkpoint, "--steps", "4", "--match", path,
        "--emotion", "neutral", "--lip-closure", "0")
    assert read_json(neutral).meta["style"]["emotion"] == "neutral"
    assert read_json(neutral).meta["style"]["intensity"] == 0


def test_mouthpiece_style_refuses_an_unreadable_reference(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("Timecode,BlendshapeCount,JawOpen\n00:00:00:00.000,1,zero\n")
    for path, message in ((tmp_path / "missing.csv", "no such file"), (bad, "is not a number")):
        p = run("style", path, check=False)
        assert p.returncode == 2 and message in p.stderr and not p.stdout


# --- the HTTP API -------------------------------------------------------------------------------


TOKEN = "t" * 32


@pytest.fixture(scope="module")
def api(engine):
    from fastapi.testclient import TestClient

    from server.api.app import create_app
    from server.api.jobs import JobStore

    store = JobStore(engine)
    store.start()
    client = TestClient(create_app(engine, store, TOKEN), base_url="http://127.0.0.1:8765",
                        headers={"Authorization": f"Bearer {TOKEN}"})
    yield client
    store.shutdown()
    store.join(10)


def _wav_b64(speech_wav) -> str:
    return base64.b64encode(open(speech_wav, "rb").read()).decode()


def _finished(api, job_id):
    import time

    for _ in range(600):
        status = api.get(f"/v1/jobs/{job_id}").json()
        if status["status"] not in ("queued", "running"):
            return status
        time.sleep(0.05)
    raise AssertionError("the job did not finish")


def test_health_says_the_model_has_a_style_input(api):
    health = api.get("/v1/health").json()
    assert health["style"] is True and health["closure_detector"] is True
    assert health["limits"]["max_transcript_chars"] > 0


def test_job_style_fields_and_the_style_of_each_take(api, speech_wav):
    body = {"audio": _wav_b64(speech_wav), "samples": 2, "seed": 7, "steps": 4, "language": "en",
            "style": {"articulation": 0.5, "emotion": "fearful", "intensity": 0.7}, "style_guidance": 2.0}
    created = api.post("/v1/jobs", json=body)
    assert created.status_code == 202, created.text
    assert _finished(api, created.json()["id"])["status"] == "done"
    result = api.get(f"/v1/jobs/{created.json()['id']}/result").json()
    assert result["style_guidance"] == 2.0 and result["closure_sources"][0] == "detector"
    styles = [take["style"] for take in result["takes"]]
    assert all(list(s) == list(KEYS) for s in styles)
    assert all(s["articulation"] == 0.5 and s["emotion"] == "fearful" and s["intensity"] == 0.7 for s in styles)
    assert styles[0]["smile"] != styles[1]["smile"]  # unset keys drawn per take

    from addon.core.client import parse_result

    _fps, takes = parse_result(result)
    assert takes[0].style == styles[0] and takes[1].seed == 8


@pytest.mark.parametrize("fields,field,message", [
    ({"style": {"articulation": 2.5}}, "style.articulation", "less than or equal to 2"),
    ({"style": {"grin": 1}}, "style.grin", "unknown field"),
    ({"style": {"emotion": "bored"}}, "style.emotion", "neutral"),
    ({"style": {"intensity": 0.5}}, "style.intensity", "give it with an emotion other than neutral"),
    ({"style_guidance": 11}, "style_guidance", "less than or equal to 10"),
    ({"language": "english!"}, "language", "is not a language code"),
    ({"transcript": "word " * 5000}, "transcript", "at most 20000 characters"),
])
def test_bad_style_fields_get_a_422_naming_the_field(api, speech_wav, fields, field, message):
    response = api.post("/v1/jobs", json={"audio": _wav_b64(speech_wav), **fields})
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field and message in response.json()["error"], response.json()


def test_a_model_without_a_style_input_refuses_a_job_style(engine, speech_wav):
    from fastapi.testclient import TestClient

    from server.api.app import create_app
    from server.api.jobs import JobStore

    plain = copy.copy(engine)
    plain.style_dim = 0
    client = TestClient(create_app(plain, JobStore(plain), TOKEN), base_url="http://127.0.0.1:8765",
                        headers={"Authorization": f"Bearer {TOKEN}"})
    assert client.get("/v1/health").json()["style"] is False
    response = client.post("/v1/jobs", json={"audio": _wav_b64(speech_wav), "style": {"smile": 0.5}})
    assert response.status_code == 422 and response.json()["field"] == "style"
    assert "no style input" in response.json()["error"]


def test_post_style_infers_the_style_of_curves(api):
    from server.teacher.style import Style

    curves = _teacher_take(Style(articulation=1.7, smile=-0.6, emotion="angry", intensity=0.9), seed=4, fps=24.0)
    got = api.post("/v1/style", json={"fps": 24, "channels": list(arkit.CHANNELS), "frames": curves.tolist()})
    assert got.status_code == 200, got.text
    style = got.json()
    assert list(style) == list(KEYS) and style["emotion"] == "angry"
    assert abs(style["articulation"] - 1.7) < 0.2 and abs(style["smile"] + 0.6) < 0.15

    # the add-on's client: channel -> values (a frame range in Blender holds some channels only)
    from addon.core.client import build_style_request

    body = build_style_request({"JawOpen": [0.2] * 30, "mouthSmileLeft": [0.5] * 30}, 30)
    assert body["channels"] == ["jawOpen", "mouthSmileLeft"] and len(body["frames"]) == 30
    assert api.post("/v1/style", json=body).status_code == 200
    for bad, field in (({"fps": 30, "channels": ["jawOpen"], "frames": [[0.1]] * 5}, "frames"),
                       ({"fps": 30, "channels": ["jaw"], "frames": [[0.1]] * 30}, "channels[0]"),
                       ({"fps": 30, "channels": ["jawOpen"], "frames": [[1.5]] * 30}, "frames[0][0]"),
                       ({"fps": 30, "channels": ["jawOpen", "JawOpen"], "frames": [[0.1, 0.1]] * 30}, "channels[1]")):
        response = api.post("/v1/style", json=bad)
        assert response.status_code == 422 and response.json()["field"] == field, response.text


def test_client_job_request_carries_the_style_fields():
    from addon.core.client import build_job_request

    body = build_job_request(b"RIFF", 30.0, style={"articulation": 1.2, "emotion": "neutral", "intensity": 0.0},
                             style_guidance=2, language="es", transcript="  hola  ")
    assert body["style"] == {"articulation": 1.2, "emotion": "neutral"}
    assert body["style_guidance"] == 2.0 and body["language"] == "es" and body["transcript"] == "hola"
    plain = build_job_request(b"RIFF", 30.0)
    assert not {"style", "style_guidance", "language", "transcript"} & set(plain)  # unused: not sent
    with pytest.raises(ValueError, match="unknown key"):
        build_job_request(b"RIFF", 30.0, style={"grin": 1})

    from server.api.models import JobRequest

    JobRequest.model_validate({**body, "audio": "UklGRg=="})  # the server's model takes it
