"""Training on real-capture layouts: Live Link Face CSV + audio, and SAiD's BlendVOCA folders.

The capture here is made from the tiny corpus: its audio, and the teacher's curves written out
in each layout's own format (Live Link Face at 60 fps; BlendVOCA with only 32 channels).
"""

import json
import shutil

import numpy as np
import pytest

from addon.core import arkit
from addon.core.curvefile import CurveTake, write_livelink_csv
from server.checkpoint import load_checkpoint
from server.teacher import teacher_curves
from server.training.capture import build_capture_stream, read_blendvoca_csv
from server.training.config import load_config
from server.training.data import item_phones, read_manifest
from server.training.train import train
from tests.tiny_model import CONFIG

BLENDVOCA_CHANNELS = [c for c in arkit.CHANNELS if c.startswith(("jaw", "mouth", "cheek", "nose"))][:32]


def _items(tiny_corpus, n=6):
    for item in read_manifest(tiny_corpus, "train")[:n]:
        phones, duration = item_phones(tiny_corpus, item)
        yield item, tiny_corpus / "items" / f"{item['id']}.wav", teacher_curves(phones, duration, fps=60.0)


@pytest.fixture(scope="module")
def livelink_dir(tiny_corpus, tmp_path_factory):
    d = tmp_path_factory.mktemp("livelink") / "actor_a"
    d.mkdir()
    for item, wav, curves in _items(tiny_corpus):
        shutil.copy(wav, d / f"{item['id']}.wav")
        write_livelink_csv(d / f"{item['id']}.csv", CurveTake(fps=60.0, frames=curves.tolist()))
    return d.parent


@pytest.fixture(scope="module")
def blendvoca_dir(tiny_corpus, tmp_path_factory):
    root = tmp_path_factory.mktemp("BlendVOCA")
    for sub in ("audio", "blendshape_coeffs"):
        (root / sub / "FaceTalk_test_TA").mkdir(parents=True)
    cols = [arkit.INDEX[c] for c in BLENDVOCA_CHANNELS]
    for n, (item, wav, curves) in enumerate(_items(tiny_corpus)):
        shutil.copy(wav, root / "audio" / "FaceTalk_test_TA" / f"sentence{n:02d}.wav")
        with open(root / "blendshape_coeffs" / "FaceTalk_test_TA" / f"sentence{n:02d}.csv", "w") as f:
            f.write(",".join(BLENDVOCA_CHANNELS) + "\n")
            for row in curves[:, cols]:
                f.write(",".join(f"{v:.5f}" for v in row) + "\n")
    return root


def test_livelink_stream_resamples_to_model_rate(livelink_dir):
    from server.features import LogMelEncoder

    enc = LogMelEncoder()
    s = build_capture_stream("livelink", livelink_dir, enc, fps=30.0)
    assert s.items == 6 and s.valid.sum() == 52 and s.curves.shape[1] == 52
    assert abs(s.features.shape[1] / s.curves.shape[0] - enc.input_rate / 30) < 0.01


def test_blendvoca_stream_marks_missing_channels(blendvoca_dir):
    from server.features import LogMelEncoder

    s = build_capture_stream("blendvoca", blendvoca_dir, LogMelEncoder(), fps=30.0)
    assert s.valid.sum() == 32 and s.valid[arkit.INDEX["jawOpen"]] == 1 and s.valid[arkit.INDEX["eyeBlinkLeft"]] == 0
    curves, valid = read_blendvoca_csv(next((blendvoca_dir / "blendshape_coeffs").rglob("*.csv")))
    assert curves.shape[1] == 52 and valid.sum() == 32


@pytest.mark.parametrize("layout", ["livelink", "blendvoca"])
def test_training_runs_on_capture(layout, livelink_dir, blendvoca_dir, tmp_path):
    root = livelink_dir if layout == "livelink" else blendvoca_dir
    cfg = load_config(CONFIG, {"data": {"kind": layout, "root": str(root)}, "train": {"max_steps": 5}})
    out = train(cfg, tmp_path / "run", quiet=True)
    model, config = load_checkpoint(out)
    assert config["training"]["data"] == layout and config["training"]["steps"] == 5


def test_bad_layouts_say_what_is_expected(tmp_path):
    with pytest.raises(ValueError, match="audio/ and blendshape_coeffs/"):
        build_capture_stream("blendvoca", tmp_path, None)
    with pytest.raises(ValueError, match="NAME.wav beside NAME.csv"):
        build_capture_stream("livelink", tmp_path, None)


def test_fine_tuning_starts_from_a_checkpoint(tiny_checkpoint, livelink_dir, tmp_path):
    import torch

    cfg = load_config(CONFIG, {"data": {"kind": "livelink", "root": str(livelink_dir)},
                               "train": {"max_steps": 1, "init": str(tiny_checkpoint), "lr": 1e-9, "warmup_steps": 1}})
    out = train(cfg, tmp_path / "tune", quiet=True)
    tuned, tuned_config = load_checkpoint(out)
    base, base_config = load_checkpoint(tiny_checkpoint)
    # The checkpoint says where it came from, with the base model's own training record.
    assert tuned_config["training"]["fine_tuned_from"] == {"checkpoint": str(tiny_checkpoint),
                                                           "training": base_config["training"]}
    assert "weight_closure" in tuned_config["training"]["loss_weights"]
    diffs = [(a - b).abs().max().item() for a, b in zip(tuned.state_dict().values(), base.state_dict().values())]
    assert max(diffs) < 1e-3  # one step at a tiny learning rate: still the base model


def test_closure_weight_counts_a_missed_closure_inside_speech_more():
    import torch

    from server.training.train import lip_opening_loss

    truth = torch.tensor([[0.0] * 8 + [0.4, 0.4, 0.0, 0.4, 0.4] + [0.0] * 8])   # rest, "ama", rest
    missed_closure = truth.clone()
    missed_closure[0, 10] = 0.3                       # the lips stay open on the m
    missed_rest = truth.clone()
    missed_rest[0, 2] = 0.3                           # the same error in a pause
    assert lip_opening_loss(missed_closure, truth) == pytest.approx(float(lip_opening_loss(missed_rest, truth)))
    assert lip_opening_loss(missed_closure, truth, 8.0) == pytest.approx(9 * float(lip_opening_loss(missed_rest, truth, 8.0)))
