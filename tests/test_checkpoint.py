"""Checkpoints: round trip, and clear errors for missing, corrupt or incompatible ones."""

import json
import shutil

import numpy as np
import pytest

from server.checkpoint import load_checkpoint
from server.engine import Engine
from server.errors import CheckpointError


def _copy(tiny_checkpoint, tmp_path):
    dst = tmp_path / "ckpt"
    shutil.copytree(tiny_checkpoint, dst)
    return dst


def test_config_describes_the_model(tiny_checkpoint):
    cfg = json.loads((tiny_checkpoint / "config.json").read_text())
    assert cfg["format_version"] == 1 and cfg["fps"] == 30.0 and len(cfg["channels"]) == 52
    assert cfg["features"]["kind"] == "logmel" and cfg["training"]["hours"] > 0
    info = Engine.from_checkpoint(tiny_checkpoint).info()
    assert info["model"] == "tiny-test" and info["device"] == "cpu"


def test_missing(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist.*scripts/train"):
        load_checkpoint(tmp_path / "nothing")


def test_incomplete(tiny_checkpoint, tmp_path):
    d = _copy(tiny_checkpoint, tmp_path)
    (d / "model.safetensors").unlink()
    with pytest.raises(CheckpointError, match="incomplete"):
        load_checkpoint(d)


def test_corrupt_weights(tiny_checkpoint, tmp_path):
    d = _copy(tiny_checkpoint, tmp_path)
    (d / "model.safetensors").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(d)


def test_corrupt_config(tiny_checkpoint, tmp_path):
    d = _copy(tiny_checkpoint, tmp_path)
    (d / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="config.json is corrupt"):
        load_checkpoint(d)


@pytest.mark.parametrize("change,message", [
    (lambda c: c.update(format_version=99), "format version 99"),
    (lambda c: c.update(channels=c["channels"][::-1]), "different channel list"),
    (lambda c: c["denoiser"].update(channels=64), "weights do not match"),
    (lambda c: c["features"].update(kind="mystery"), "architecture"),
    (lambda c: c.update(format="something.else"), "not a Mouthpiece checkpoint"),
])
def test_incompatible(tiny_checkpoint, tmp_path, change, message):
    d = _copy(tiny_checkpoint, tmp_path)
    cfg = json.loads((d / "config.json").read_text())
    change(cfg)
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(d)


def test_round_trip_gives_identical_output(tiny_checkpoint, tmp_path, speech_wav):
    from server.audio import load_audio
    from server.checkpoint import save_checkpoint
    from server.engine import GenerationRequest

    model, cfg = load_checkpoint(tiny_checkpoint)
    save_checkpoint(tmp_path / "again", model, name=cfg["name"], fps=cfg["fps"], defaults=cfg["defaults"],
                    training=cfg["training"])
    audio = load_audio(str(speech_wav))
    a = Engine.from_checkpoint(tiny_checkpoint).generate(GenerationRequest(audio=audio)).takes
    b = Engine.from_checkpoint(tmp_path / "again").generate(GenerationRequest(audio=audio)).takes
    assert np.array_equal(a, b)
