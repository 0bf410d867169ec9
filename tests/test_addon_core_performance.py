"""addon.core.performance: the Performance panel's ranges are the sidecar's, and the request, the
take labels, the style filled from a take and the dialogue chosen from text strips."""

from __future__ import annotations

import pytest

from addon.core import client, performance


def test_the_ranges_keys_and_languages_are_the_sidecars():
    from server import style as server_style
    from server.speech.language import TRAINED, UNDETERMINED, uses_recogniser
    from server.teacher.style import EMOTIONS, Style

    assert performance.KEYS == server_style.KEYS
    assert performance.CONTROLS == server_style.CONTROLS
    assert performance.EMOTIONS == EMOTIONS
    assert performance.RANGES == {k: Style.RANGES[k] for k in performance.RANGES}
    assert set(performance.RANGES) == set(performance.KEYS) - {"emotion"}
    assert tuple(code for code, _ in performance.LANGUAGES) == TRAINED
    assert performance.OTHER_LANGUAGE[0] == UNDETERMINED
    assert not uses_recogniser(performance.OTHER_LANGUAGE[0], has_detector=True)
    neutral = Style.neutral().as_dict()
    assert {k: performance.DEFAULTS[k] for k in performance.CONTROLS} == {k: neutral[k] for k in performance.CONTROLS}
    for key, (low, high) in performance.RANGES.items():
        assert low <= performance.DEFAULTS[key] <= high


def test_the_request_holds_only_the_set_keys_and_the_sidecar_accepts_it():
    from server.style import check_values

    values = dict(performance.DEFAULTS, articulation=1.6, smile=-3.0, emotion="sad", intensity=0.5)
    assert performance.request_style(values, []) is None
    style = performance.request_style(values, ["articulation", "smile"])
    assert style == {"articulation": 1.6, "smile": -1.0}  # clamped to range
    assert performance.request_style(values, ["emotion", "intensity"]) == {"emotion": "sad", "intensity": 0.5}
    # An intensity needs a set emotion other than neutral (the sidecar refuses it otherwise).
    assert performance.request_style(values, ["intensity"]) is None
    assert performance.request_style(dict(values, emotion="neutral"), ["emotion", "intensity"]) == \
        {"emotion": "neutral"}
    everything = performance.request_style(values, performance.KEYS)
    assert check_values(everything) == everything
    with pytest.raises(ValueError):
        performance.request_style(values, ["loudness"])


def test_style_guidance_and_language():
    assert performance.request_style_guidance(1.0) is None  # off: the sidecar's default
    assert performance.request_style_guidance(2.5) == 2.5
    assert performance.request_style_guidance(99) == performance.STYLE_GUIDANCE_MAX
    assert performance.request_language("") == "auto" and performance.request_language(" ES ") == "es"


def test_build_job_request_sends_the_performance_only_when_set():
    plain = client.build_job_request(b"RIFF", 24)
    assert not {"style", "style_guidance", "language", "transcript"} & set(plain)
    body = client.build_job_request(b"RIFF", 24, style={"smile": 0.5}, style_guidance=2.0, language="fr",
                                    transcript="  bonjour  ")
    assert body["style"] == {"smile": 0.5} and body["style_guidance"] == 2.0
    assert body["language"] == "fr" and body["transcript"] == "bonjour"
    assert "language" not in client.build_job_request(b"RIFF", 24, language="auto")


def test_parse_result_reads_each_takes_style():
    row = [0.0] * 52
    style = {**performance.DEFAULTS, "smile": 0.2, "emotion": "sad", "intensity": 0.5}
    result = {"fps": 24, "channels": list(client.arkit.CHANNELS),
              "takes": [{"seed": 1, "frames": [row], "style": style}, {"seed": 2, "frames": [row]}]}
    _, takes = client.parse_result(result)
    assert takes[0].style == style and takes[1].style is None
    # A take's style lacking keys is a malformed result, not a style to write into the panel.
    with pytest.raises(client.SidecarError, match="malformed style"):
        client.parse_result({**result, "takes": [{"seed": 1, "frames": [row], "style": {"smile": 0.2}}]})


def test_panel_values_from_a_take_or_an_inferred_style():
    style = {"articulation": 1.25, "smile": 0.3, "asymmetry": 0.0, "brow_activity": 9.0, "blink_rate": 1.0,
             "gaze_activity": 1.0, "emotion": "happy", "intensity": 0.4, "jaw_range": 1.1}
    values = performance.panel_values(style)
    assert set(values) == set(performance.KEYS) and values["brow_activity"] == 3.0
    assert performance.panel_values({"emotion": "neutral"}) == {"emotion": "neutral", "intensity": 0.0}
    assert performance.panel_values({"emotion": "bored", "smile": 0.1}) == {"smile": 0.1}
    with pytest.raises(ValueError):
        performance.panel_values({"loudness": 1})


def test_format_style_is_compact():
    style = {"articulation": 1.2, "smile": 0.3, "asymmetry": 0.01, "brow_activity": 1.0, "blink_rate": 1.0,
             "gaze_activity": 1.0, "emotion": "sad", "intensity": 0.5}
    assert performance.format_style(style) == "sad 0.5 \u00b7 smile 0.3 \u00b7 art 1.2"
    assert performance.format_style(dict(style, emotion="neutral", intensity=0.0, smile=0.0, articulation=1.0)) \
        == "neutral"
    assert performance.format_style(None) == ""


def test_dialogue_from_the_field_else_the_text_strips_over_the_sound():
    sound = [(10.0, 60.0)]
    texts = [((70.0, 90.0), 3, "after the sound"), ((40.0, 80.0), 3, "world"), ((5.0, 30.0), 4, " hello "),
             ((20.0, 50.0), 5, "  ")]
    assert performance.dialogue_text("typed words", sound, texts) == ("typed words", "field")
    assert performance.dialogue_text("", sound, texts) == ("hello world", "strips")
    assert performance.dialogue_text("", [], texts) == ("", "")
    assert performance.dialogue_text("", [(60.0, 70.0)], texts) == ("world", "strips")  # end is exclusive
