"""The optional encoder: a transformers Wav2Vec2/HuBERT model loaded from a local directory."""

import numpy as np
import pytest
import torch

from server.audio import load_audio
from server.checkpoint import load_checkpoint, save_checkpoint
from server.engine import Engine, GenerationRequest
from server.features import build_encoder
from server.model import MouthpieceModel


@pytest.fixture(scope="module", params=["wav2vec2", "hubert"])
def speech_model_dir(request, tmp_path_factory):
    from transformers import HubertConfig, HubertModel, Wav2Vec2Config, Wav2Vec2Model

    cfg_cls, model_cls = (Wav2Vec2Config, Wav2Vec2Model) if request.param == "wav2vec2" else (HubertConfig, HubertModel)
    cfg = cfg_cls(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                  conv_dim=(32, 32, 32, 32, 32, 32, 32), num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4)
    torch.manual_seed(0)
    d = tmp_path_factory.mktemp(request.param)
    model_cls(cfg).save_pretrained(d)
    return d


def test_encoder_gives_one_vector_per_frame(speech_model_dir, speech_wav):
    enc = build_encoder({"kind": "wav2vec2", "model_dir": str(speech_model_dir), "out_dim": 16, "hidden": 24})
    audio = load_audio(str(speech_wav))
    feats = enc.features(audio.samples)
    out = enc(feats[None], 90, 30.0)
    assert out.shape == (1, 16, 90) and torch.isfinite(out).all()
    assert abs(enc.feature_rate - 50.0) < 1e-6


def test_checkpoint_with_wav2vec2_round_trips_and_generates(speech_model_dir, tmp_path, speech_wav):
    model = MouthpieceModel.from_config({"kind": "wav2vec2", "model_dir": str(speech_model_dir), "out_dim": 16},
                                        {"channels": 32, "dilations": [1, 2], "emb_dim": 32})
    save_checkpoint(tmp_path / "w2v", model, name="w2v-test", fps=30.0, defaults={"steps": 3, "guidance": 1.0})
    loaded, cfg = load_checkpoint(tmp_path / "w2v")
    assert cfg["features"]["kind"] == "wav2vec2"
    # The frozen speech model is referenced by directory, not copied into the checkpoint.
    from safetensors.torch import load_file

    assert not any(k.startswith("encoder.speech.") for k in load_file(str(tmp_path / "w2v" / "model.safetensors")))
    r = Engine.from_checkpoint(tmp_path / "w2v").generate(GenerationRequest(audio=load_audio(str(speech_wav))))
    assert r.takes.shape[2] == 52 and np.all(np.isfinite(r.takes))


def test_missing_model_dir_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="save_pretrained"):
        build_encoder({"kind": "wav2vec2", "model_dir": str(tmp_path / "none")})
