"""DDIM sampling with the tiny trained model: determinism, takes, steps, guidance, fps."""

import numpy as np
import pytest
import torch

from server.audio import load_audio
from server.diffusion.ddim import DDIMSampler
from server.diffusion.schedule import add_noise, alpha_bar
from server.engine import GenerationRequest
from server.timebase import num_frames, resample_curves


@pytest.fixture(scope="module")
def audio(speech_wav):
    return load_audio(str(speech_wav))


def test_same_seed_same_result(engine, audio):
    a = engine.generate(GenerationRequest(audio=audio, seed=7, samples=2)).takes
    b = engine.generate(GenerationRequest(audio=audio, seed=7, samples=2)).takes
    assert np.array_equal(a, b)


def test_take_i_is_reproducible_from_its_seed_alone(engine, audio):
    batch = engine.generate(GenerationRequest(audio=audio, seed=3, samples=3))
    assert batch.seeds == [3, 4, 5]
    alone = engine.generate(GenerationRequest(audio=audio, seed=5, samples=1)).takes[0]
    assert np.allclose(batch.takes[2], alone, atol=1e-5)


def test_takes_differ(engine, audio):
    takes = engine.generate(GenerationRequest(audio=audio, seed=0, samples=4)).takes
    assert takes.shape == (4, num_frames(audio.duration, 30.0), 52)
    # Different seeds give different takes (a tiny model varies little, but it does vary).
    assert all(np.abs(takes[i] - takes[j]).max() > 1e-5 for i in range(4) for j in range(i))
    assert takes.min() >= 0 and takes.max() <= 1


@pytest.mark.parametrize("fps", [24, 25, 29.97, 30, 50, 60])
def test_output_at_any_frame_rate(engine, audio, fps):
    r = engine.generate(GenerationRequest(audio=audio, fps=fps, seed=1))
    assert r.takes.shape[1] == num_frames(audio.duration, fps) and r.fps == fps
    # The same motion at every rate: resampled back to 30 fps it matches the 30 fps take.
    ref = engine.generate(GenerationRequest(audio=audio, fps=30, seed=1)).takes[0]
    back = resample_curves(r.takes[0], fps, 30, ref.shape[0])
    assert np.abs(back - ref)[2:-2].mean() < 0.01


def test_steps_and_guidance_change_the_result(engine, audio):
    base = engine.generate(GenerationRequest(audio=audio, seed=2, steps=8, guidance=1.0)).takes[0]
    more_steps = engine.generate(GenerationRequest(audio=audio, seed=2, steps=16, guidance=1.0)).takes[0]
    guided = engine.generate(GenerationRequest(audio=audio, seed=2, steps=8, guidance=3.0)).takes[0]
    assert np.abs(base - more_steps).max() > 1e-4 and np.abs(base - guided).max() > 1e-4


def test_progress_reaches_one_and_is_monotonic(engine, audio):
    seen = []
    engine.generate(GenerationRequest(audio=audio, steps=5), progress=lambda f, s: seen.append(f))
    assert seen[-1] == 1.0 and seen == sorted(seen)


def test_ddim_with_a_perfect_x0_predictor_recovers_x0():
    ab = alpha_bar()
    x0 = torch.rand(1, 52, 20) * 2 - 1
    sampler = DDIMSampler()
    ts = sampler.set_timesteps(10).tolist()
    x = add_noise(x0, torch.randn_like(x0), torch.tensor([ts[0]]), ab)
    for i, t in enumerate(ts):
        x = sampler.step(x0, t, x, ts[i + 1] if i + 1 < len(ts) else None)
    assert torch.allclose(x, x0, atol=1e-5)


def test_resample_keeps_samples_at_same_rate_and_is_smooth():
    c = np.random.default_rng(0).random((50, 52)).astype(np.float32)
    assert np.allclose(resample_curves(c, 30, 30, 50), c)
    up = resample_curves(c, 30, 60, 100)
    assert np.allclose(up[::2], c, atol=1e-6)  # Catmull-Rom passes through the samples
