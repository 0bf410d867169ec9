"""Distilled few-step sampling (server/training/distill.py) on the tiny model: the student
checkpoint, one denoiser pass a step, pins and edits still exact, takes still differ."""

import json

import numpy as np
import pytest
import torch

from addon.core.arkit import INDEX
from server.audio import load_audio
from server.diffusion.ddim import DDIMSampler, timesteps_for
from server.diffusion.schedule import alpha_bar
from server.engine import Engine, GenerationRequest, Key
from server.evaluation.model_figures import MOUTH, UPPER_FACE, diversity
from server.training.distill import DistillSettings, distill, rounds, solve_x0


@pytest.fixture(scope="module")
def distilled(tiny_checkpoint, tiny_corpus, tmp_path_factory):
    """The tiny model distilled to 2 steps (guidance round, then 4 -> 2), a few iterations a round,
    through the CLI."""
    from server.cli import main

    run = tmp_path_factory.mktemp("distill")
    args = ["distill", "--teacher", str(tiny_checkpoint), "--run", str(run / "run"), "--out", str(run / "student"),
            "--steps", "2", "--start-steps", "4", "--max-iters", "3", "--batch", "2", "--crop-seconds", "2",
            "--threads", "1", "--corpus", str(tiny_corpus), "--cache", str(run / "cache")]
    assert main(args) == 0
    return run


@pytest.fixture(scope="module")
def student(distilled):
    return Engine.from_checkpoint(distilled / "student", device="cpu")


@pytest.fixture(scope="module")
def audio(speech_wav):
    return load_audio(str(speech_wav))


def test_trailing_grids_nest():
    for n in (2, 4, 8):
        assert timesteps_for(2 * n, spacing="trailing")[::2].tolist() == timesteps_for(n, spacing="trailing").tolist()
    assert timesteps_for(2, spacing="trailing").tolist() == [999, 499]
    assert timesteps_for(10).tolist()[-1] == 0  # the default spacing is unchanged


def test_solved_x0_steps_onto_the_target():
    ab = alpha_bar()
    g = torch.Generator().manual_seed(0)
    x_t, x_target = torch.randn(3, 52, 20, generator=g), torch.randn(3, 52, 20, generator=g)
    x0 = solve_x0(x_t, x_target, ab[749], ab[249])
    assert torch.allclose(DDIMSampler().step(x0, 749, x_t, 249), x_target, atol=1e-4)


def test_rounds_halve_the_steps():
    assert [n for n, _ in rounds(DistillSettings(steps=2, start_steps=16))] == \
        ["guidance", "steps-8", "steps-4", "steps-2"]
    assert rounds(DistillSettings(steps=4, method="guidance")) == [("guidance", 4)]


def test_student_checkpoint_records_the_distillation(distilled, tiny_checkpoint, student):
    config = json.loads((distilled / "student" / "config.json").read_text())
    assert config["distilled"]["steps"] == 2 and config["distilled"]["method"] == "progressive"
    assert config["distilled"]["from"] == str(tiny_checkpoint)
    assert config["distilled"]["guidance_baked"] == 1.5
    assert config["defaults"]["steps"] == 2 and config["defaults"]["guidance"] == 1.0
    assert student.info()["distilled"]["steps"] == 2
    baseline = json.loads((distilled / "run" / "guidance" / "config.json").read_text())
    assert baseline["distilled"]["method"] == "guidance" and baseline["defaults"]["steps"] == 2


def test_a_finished_run_resumes_to_its_student(distilled, tiny_checkpoint, tiny_corpus):
    settings = DistillSettings(steps=2, start_steps=4, max_iters=3, batch=2, crop_seconds=2, threads=1,
                               corpus=str(tiny_corpus), cache=str(distilled / "cache"))
    out = distill(tiny_checkpoint, distilled / "run", None, settings, quiet=True)
    assert out == distilled / "run" / "steps-2"


def test_a_stopped_run_resumes_mid_round(tiny_checkpoint, tiny_corpus, tmp_path):
    settings = DistillSettings(steps=2, method="guidance", max_iters=4, batch=2, crop_seconds=2, threads=1,
                               corpus=[str(tiny_corpus)], cache=str(tmp_path / "cache"))
    asked = []
    with pytest.raises(KeyboardInterrupt):
        distill(tiny_checkpoint, tmp_path / "run", None, settings, quiet=True,
                stop_flag=lambda: asked.append(1) or len(asked) > 2)
    state = torch.load(tmp_path / "run" / "state.pt", weights_only=False)
    assert state["round"] == 0 and 0 < state["iters"] < 4
    out = distill(tiny_checkpoint, tmp_path / "run", tmp_path / "student", settings, quiet=True)
    config = json.loads((out / "config.json").read_text())
    assert config["distilled"]["method"] == "guidance"
    assert config["training"]["distillation"]["rounds"][0]["iterations"] == 4


def _count_passes(engine):
    calls = []
    hook = engine.model.denoiser.register_forward_hook(lambda module, args, out: calls.append(args[0].shape[0]))
    return calls, hook


def test_one_denoiser_pass_a_step(student, audio):
    calls, hook = _count_passes(student)
    try:
        result = student.generate(GenerationRequest(audio=audio, samples=3, seed=0))
        assert result.steps == 2 and result.guidance == 1.0
        assert calls == [3, 3]  # two steps, each one pass over the three takes
        calls.clear()
        # The full sampler stays available: explicit steps and guidance (two passes a step).
        student.generate(GenerationRequest(audio=audio, samples=1, seed=0, steps=5, guidance=1.5))
        assert calls == [2] * 5
    finally:
        hook.remove()


def test_pins_exact_and_edits_leave_the_outside_untouched(student, audio):
    base = student.generate(GenerationRequest(audio=audio, seed=1)).takes[0]
    keys = [Key(10, "jawOpen", 0.8), Key(25, "mouthClose", 0.3), Key(40, "browInnerUp", 0.9)]
    pinned = student.generate(GenerationRequest(audio=audio, seed=2, keys=keys)).takes[0]
    assert max(abs(pinned[k.frame, INDEX[k.channel]] - k.value) for k in keys) <= 1e-4
    n = len(base)
    start, end = n // 3, n // 3 + 20
    edited = student.generate(GenerationRequest(audio=audio, seed=3, existing=base, regenerate=(start, end))).takes[0]
    outside = np.ones(n, bool)
    outside[start:end + 1] = False
    assert np.abs(edited[outside] - base[outside]).max() == 0.0
    assert np.abs(edited[start:end + 1] - base[start:end + 1]).max() > 1e-4


def test_takes_still_differ(student, audio):
    takes = student.generate(GenerationRequest(audio=audio, seed=0, samples=4)).takes
    assert all(np.abs(takes[i] - takes[j]).max() > 1e-4 for i in range(4) for j in range(i))
    assert diversity(takes, UPPER_FACE) > 0 and diversity(takes, MOUTH) > 0
