"""The acoustic closure detector: its labels, its pooling to model frames, its training (real, on
the tiny corpus), putting it into a checkpoint, and the engine using it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from server.model.closure_detector import AcousticClosureDetector, ClosureDetector, build_closure_detector
from server.training.detector import DetectorSettings, attach, bin_labels, train_detector


def test_a_closure_shorter_than_a_bin_still_labels_one():
    labels = bin_labels([("AA", 0.0, 0.5), ("P", 0.5, 0.512), ("AA", 0.512, 1.0)], 50, 50.0)
    assert labels.sum() >= 1 and labels[24:27].sum() >= 1
    assert bin_labels([("AA", 0.0, 0.5), ("T", 0.5, 0.6)], 50, 50.0).sum() == 0
    m = bin_labels([("M", 0.2, 0.4)], 50, 50.0)
    assert m[10:21].all() and not m[:9].any() and not m[22:].any()


def test_pooling_to_frames_keeps_a_one_bin_closure():
    det = AcousticClosureDetector(hidden=8, dilations=(1,))
    p = torch.zeros(1, 100)  # 2 s at 50 Hz
    p[0, 37] = 0.9           # 0.74 s: frame 22 at 30 fps (0.7333 s) is the nearest
    frames = det.at_frames(p, 60, 30.0)
    assert frames.shape == (1, 60)
    assert float(frames[0, 22]) == pytest.approx(0.9) and float(frames.sum()) == pytest.approx(0.9)


def test_checkpoint_config_builds_either_detector():
    assert build_closure_detector(None, 128) is None
    assert isinstance(build_closure_detector({"hidden": 8, "dilations": [1]}, 128), ClosureDetector)
    acoustic = build_closure_detector({"input": "features", "hidden": 8, "dilations": [1, 2]}, 128)
    assert isinstance(acoustic, AcousticClosureDetector)
    assert build_closure_detector(acoustic.config(), 128).config() == acoustic.config()
    with pytest.raises(ValueError, match="expected 'encoder' or 'features'"):
        build_closure_detector({"input": "video"}, 128)


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_checkpoint, tiny_corpus):
    run = tmp_path_factory.mktemp("detector")
    settings = DetectorSettings(corpus=[str(tiny_corpus)], cache=str(run / "cache"), base=str(tiny_checkpoint),
                                hidden=32, dilations=(1, 2, 4), minutes=10, max_steps=120, batch=8,
                                crop_seconds=2.0, warmup_steps=10, eval_every=60, eval_items=20)
    return run, train_detector(run, settings, quiet=True), settings


def test_training_learns_where_the_lips_close(trained):
    run, out, _ = trained
    saved = torch.load(out, weights_only=False)
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [60, 120]
    assert saved["training"]["steps"] == 120
    # Cross-entropy of an untrained detector is about log 2; training on real labels brings it well down.
    assert log[-1]["bce"] < 0.45, log


def test_a_finished_run_resumes_without_more_steps(trained):
    run, _, settings = trained
    out = train_detector(run, settings, quiet=True)
    assert torch.load(out, weights_only=False)["training"]["steps"] == 120


def test_attached_detector_is_what_the_engine_uses(trained, tiny_checkpoint, tmp_path, speech_wav):
    from server.audio import load_audio
    from server.checkpoint import read_config
    from server.engine import Engine, GenerationRequest

    run, out, _ = trained
    ckpt = attach(out, tiny_checkpoint, tmp_path / "model")
    _, config = read_config(ckpt)
    assert config["closure_detector"]["input"] == "features"
    assert config["training"]["closure_detector"]["steps"] == 120
    _, base_config = read_config(tiny_checkpoint)
    assert config["denoiser"] == base_config["denoiser"]   # only the detector changed
    engine = Engine.from_checkpoint(ckpt, device="cpu")
    assert isinstance(engine.model.closure_detector, AcousticClosureDetector)
    audio = load_audio(str(speech_wav))
    result = engine.generate(GenerationRequest(audio=audio, fps=30.0, seed=0, language="es"))
    assert result.closure_sources == ["detector"]
    features = engine.audio_features(audio)
    frames = result.takes[0].shape[0]
    p = engine.closure_probability(engine.encode_audio(audio, frames, features), features)
    assert p.shape == (frames,) and np.all((p >= 0) & (p <= 1))


def test_compare_scores_detectors_on_the_same_heldout_items(trained, tiny_checkpoint, tiny_corpus, tmp_path):
    from server.training.detector import compare

    run, out, settings = trained
    untrained = AcousticClosureDetector(n_mels=torch.load(out, weights_only=False)["config"]["n_mels"], hidden=32,
                                        dilations=(1, 2, 4))
    torch.save({"config": untrained.config(), "state_dict": untrained.state_dict(), "training": {}},
               tmp_path / "untrained.pt")
    rows = compare([out, tmp_path / "untrained.pt"], [str(tiny_corpus)], base=str(tiny_checkpoint),
                   cache=settings.cache, eval_items=20)
    assert [r["items"] for r in rows] == [rows[0]["items"]] * 2 and rows[0]["items"] > 0
    assert rows[0]["bilabials"] == rows[1]["bilabials"] > 0
    assert rows[0]["bce"] < rows[1]["bce"]
