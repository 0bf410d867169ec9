"""Emotion intensity calibration: the fit inverts a measured response, the engine conditions
through it, and the style a take reports stays the animator's."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from server.style import CONTROLS, NON_NEUTRAL, resolve, style_vector
from server.style_calibration import GRID, LEVELS, calibrate, condition_intensity, condition_vector, fit


def test_fit_inverts_a_convex_response():
    responses = [c ** 2 * 0.3 for c in LEVELS]       # 0.5 does a quarter of what 1 does
    table = fit(LEVELS, responses)
    assert table[0] == 0.0 and table[-1] == pytest.approx(1.0)
    assert table[GRID.index(0.5)] == pytest.approx(np.sqrt(0.5), abs=0.02)
    assert np.all(np.diff(table) >= 0)


def test_fit_survives_noise_and_a_model_that_does_not_respond():
    noisy = fit(LEVELS, [0.02, 0.01, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0])   # not monotone at the bottom
    assert np.all(np.diff(noisy) >= 0) and noisy[-1] == pytest.approx(1.0)
    assert fit(LEVELS, [0.0] * len(LEVELS)) == list(GRID)


def test_condition_vector_changes_only_the_emotions_intensity():
    calibration = {"grid": list(GRID), "emotions": {"sad": fit(LEVELS, [c ** 2 for c in LEVELS])}}
    style = resolve({"emotion": "sad", "intensity": 0.5, "smile": 0.3}, np.random.default_rng(0))
    plain, calibrated = style_vector(style), condition_vector(style, calibration)
    k = len(CONTROLS) + NON_NEUTRAL.index("sad")
    assert calibrated[k] == pytest.approx(np.sqrt(0.5), abs=0.02) and plain[k] == 0.5
    assert np.array_equal(np.delete(plain, k), np.delete(calibrated, k))
    # An emotion the table lacks, and no table at all, pass through.
    happy = resolve({"emotion": "happy", "intensity": 0.4}, np.random.default_rng(0))
    assert np.array_equal(condition_vector(happy, calibration), style_vector(happy))
    assert condition_intensity(None, "sad", 0.3) == 0.3


@pytest.fixture(scope="module")
def audio(speech_wav):
    from server.audio import load_audio

    return load_audio(speech_wav)


def test_the_engine_conditions_through_the_calibration(engine, audio):
    from server.engine import Engine, GenerationRequest

    doubled = copy.deepcopy(engine.config)
    # A table that conditions every intensity u at min(2u, 1): asking 0.5 must give the take 1 gives.
    doubled["intensity_calibration"] = {"grid": list(GRID),
                                        "emotions": {e: [min(2 * u, 1.0) for u in GRID] for e in NON_NEUTRAL}}
    calibrated = Engine(engine.model, doubled, engine.device, source="calibrated")
    style = {"emotion": "sad", "intensity": 0.5, "articulation": 1.0, "smile": 0.0, "asymmetry": 0.0,
             "brow_activity": 1.0, "blink_rate": 1.0, "gaze_activity": 1.0}
    half = calibrated.generate(GenerationRequest(audio=audio, fps=30.0, seed=3, style=style, language="es"))
    full = engine.generate(GenerationRequest(audio=audio, fps=30.0, seed=3, style={**style, "intensity": 1.0},
                                             language="es"))
    plain_half = engine.generate(GenerationRequest(audio=audio, fps=30.0, seed=3, style=style, language="es"))
    assert np.array_equal(half.takes[0], full.takes[0])
    assert not np.array_equal(half.takes[0], plain_half.takes[0])
    assert half.styles[0]["intensity"] == 0.5       # what the animator asked, not what conditioned


def test_calibrate_measures_every_emotion(engine, audio):
    import dataclasses

    short = dataclasses.replace(audio, samples=audio.samples[: int(2.0 * audio.sample_rate)])
    result = calibrate(engine, [short])
    assert set(result["emotions"]) == set(NON_NEUTRAL)
    for table in result["emotions"].values():
        assert len(table) == len(GRID) and table[0] == 0.0 and np.all(np.diff(table) >= 0)
    assert engine.intensity_calibration is None or isinstance(engine.intensity_calibration, dict)
