"""The phone front end: pocketsphinx's allphone recogniser on real espeak-ng speech, its frame
features, silence, determinism, and a model with the new encoder kinds built, saved and run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from server.audio import SAMPLE_RATE
from server.checkpoint import load_checkpoint, save_checkpoint
from server.engine import Engine, GenerationRequest
from server.features import build_encoder
from server.features.logmel import LogMelEncoder
from server.features.phones import EXTRA_CHANNELS, PHONE_SET, SIL_INDEX, recognise_phones
from server.model import MouthpieceModel
from server.phones import BILABIALS
from server.timebase import num_frames
from tests.conftest import BILABIAL_SENTENCE_PAD_S as PAD_S

TOLERANCE_S = 0.05


@pytest.fixture(scope="module")
def sentence(bilabial_sentence):
    return bilabial_sentence


def _near(span, others):
    _, start, end = span
    return any(s < end + TOLERANCE_S and e > start - TOLERANCE_S for _, s, e in others)


def test_recognised_bilabials_fall_on_the_sentences_bilabials(sentence):
    audio, truth = sentence
    spans = recognise_phones(audio.samples)
    true_bilabials = [s for s in truth if s[0] in BILABIALS]
    found_bilabials = [s for s in spans if s[0] in BILABIALS]
    assert len(true_bilabials) >= 8
    found = sum(_near(s, found_bilabials) for s in true_bilabials) / len(true_bilabials)
    on_target = sum(_near(s, true_bilabials) for s in found_bilabials) / max(1, len(found_bilabials))
    assert found >= 0.6, (found, spans)
    assert on_target >= 0.7, (on_target, spans)


def test_spans_follow_the_phone_contract(sentence):
    audio, _ = sentence
    spans = recognise_phones(audio.samples)
    assert spans[0][1] == 0.0 and spans[-1][2] == pytest.approx(audio.duration)
    assert all(a[2] == pytest.approx(b[1]) for a, b in zip(spans, spans[1:]))
    assert all(p in PHONE_SET for p, _, _ in spans)
    # The padding is silence and the speech is not.
    assert spans[0][0] == "SIL" and spans[-1][0] == "SIL"
    speech = [(p, s, e) for p, s, e in spans if s >= PAD_S + 0.05 and e <= audio.duration - PAD_S - 0.05]
    speech_seconds = sum(e - s for _, s, e in speech)
    assert sum(e - s for p, s, e in speech if p == "SIL") < 0.1 * speech_seconds
    assert len({p for p, _, _ in speech}) >= 10


def test_same_clip_same_phones_whatever_came_before(sentence):
    # pocketsphinx carries cepstral-mean state across utterances; the front end resets it.
    audio, _ = sentence
    first = recognise_phones(audio.samples)
    rng = np.random.default_rng(1)
    recognise_phones((0.1 * rng.standard_normal(SAMPLE_RATE)).astype(np.float32))
    assert recognise_phones(audio.samples) == first


@pytest.mark.parametrize("silence", [np.zeros(SAMPLE_RATE, np.float32),
                                     1e-4 * np.random.default_rng(0).standard_normal(SAMPLE_RATE).astype(np.float32)],
                         ids=["digital", "noise-floor"])
def test_silence_is_sil(silence):
    assert recognise_phones(silence) == [("SIL", 0.0, 1.0)]
    feats = build_encoder({"kind": "phones"}).features(silence).numpy()
    assert (feats[SIL_INDEX] == 1.0).all() and feats[: len(PHONE_SET)].sum() == feats.shape[1]


def test_features_shape_and_frame_rate(sentence):
    audio, _ = sentence
    phones = build_encoder({"kind": "phones"})
    both = build_encoder({"kind": "logmel+phones"})
    assert phones.feature_rate == 50.0 and both.feature_rate == 50.0  # 100 Hz input, conv stride 2
    feats = phones.features(audio.samples).numpy()
    logmel = LogMelEncoder().features(audio.samples).numpy()
    assert feats.shape == (len(PHONE_SET) + EXTRA_CHANNELS, logmel.shape[1])
    assert abs(feats.shape[1] - audio.duration * 100) <= 1
    onehot = feats[: len(PHONE_SET)]
    assert set(np.unique(onehot)) == {0.0, 1.0} and (onehot.sum(axis=0) == 1).all()
    # Frame j holds the phone recognised at time j / 100.
    for p, s, e in recognise_phones(audio.samples):
        j = int(np.ceil(s * 100 - 1e-6))
        if j < feats.shape[1] and e - s >= 0.02:
            assert onehot[PHONE_SET.index(p), j] == 1.0
    loud = feats[len(PHONE_SET)]
    assert loud.max() <= 1.0 and loud[: int(0.4 * 100)].max() < -1.0 < np.percentile(loud, 90)
    combined = both.features(audio.samples).numpy()
    assert combined.shape == (feats.shape[0] + 80, feats.shape[1])
    np.testing.assert_array_equal(combined[: feats.shape[0]], feats)
    np.testing.assert_allclose(combined[feats.shape[0]:], logmel, atol=1e-5)


def test_bad_hop_is_a_clear_error():
    with pytest.raises(ValueError, match="hop must be 160"):
        build_encoder({"kind": "phones", "hop": 320})


@pytest.mark.parametrize("kind", ["phones", "logmel+phones"])
def test_tiny_model_builds_saves_loads_and_generates(kind, sentence, tmp_path):
    audio, _ = sentence
    torch.manual_seed(0)
    model = MouthpieceModel.from_config({"kind": kind, "hidden": 16, "out_dim": 16, "dilations": [1, 2]},
                                        {"channels": 16, "dilations": [1, 2], "emb_dim": 16})
    save_checkpoint(tmp_path / "ckpt", model, name=f"tiny-{kind}", fps=30.0, defaults={"steps": 2, "guidance": 1.0},
                    training={})
    loaded, cfg = load_checkpoint(tmp_path / "ckpt")
    assert cfg["features"]["kind"] == kind and loaded.encoder.config() == model.encoder.config()
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], tensor)
    result = Engine.from_checkpoint(tmp_path / "ckpt").generate(GenerationRequest(audio=audio, samples=1, seed=0))
    assert result.takes.shape == (1, num_frames(audio.duration, 30.0), 52)
    assert np.isfinite(result.takes).all()
