"""The sampling pipeline's parts on their own: the pure sampler over a toy model callable, the
model wrappers, and the limits table as the one source of the request's bounds."""

import threading

import numpy as np
import pytest
import torch

from server import limits
from server.diffusion.inpainting import inpainted
from server.diffusion.sample import ddim_timesteps, sample_ddim
from server.diffusion.schedule import add_noise, alpha_bar
from server.diffusion.windows import windowed
from server.errors import FieldError, GenerationCancelled


def test_sample_ddim_with_a_perfect_toy_model_returns_its_x0():
    ab = alpha_bar()
    x0 = torch.rand(2, 52, 16) * 2 - 1
    ts = ddim_timesteps(10, 1000)
    assert ts[0] == 999 and ts[-1] == 0 and ts == sorted(ts, reverse=True)
    seen = []
    x_T = add_noise(x0, torch.randn_like(x0), torch.tensor([ts[0]] * 2), ab)
    out = sample_ddim(lambda x, t: x0, x_T, ts, ab, callback=lambda i, t, x, p: seen.append((i, t)))
    assert torch.allclose(out, x0, atol=1e-5) and seen == list(enumerate(ts))


def test_sample_ddim_passes_each_timestep_and_returns_the_last_prediction():
    calls = []

    def model_fn(x, t):
        calls.append(t.tolist())
        return torch.full_like(x, float(t[0]) / 1000)

    out = sample_ddim(model_fn, torch.zeros(3, 2, 4), [900, 400, 0], alpha_bar())
    assert calls == [[900] * 3, [400] * 3, [0] * 3] and torch.equal(out, torch.zeros(3, 2, 4))


def test_sample_ddim_stops_when_cancelled():
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(GenerationCancelled):
        sample_ddim(lambda x, t: x, torch.zeros(1, 1, 1), [10, 0], alpha_bar(), cancel=cancel)


def test_inpainted_puts_known_values_back_except_at_the_last_step():
    known, mask = torch.ones(1, 2, 3), torch.tensor([[[1.0, 0, 0], [0, 0, 1]]])
    fn = inpainted(lambda x, t: torch.zeros_like(x), known, mask, last_t=0)
    x = torch.zeros(1, 2, 3)
    assert torch.equal(fn(x, torch.tensor([500])), mask)
    assert torch.equal(fn(x, torch.tensor([0])), torch.zeros(1, 2, 3))


def test_windowed_gives_the_whole_sequence_result_for_a_local_model():
    # A toy model with a receptive radius of 2: a 5-tap moving sum.
    def model_fn_for(frames):
        return lambda x, t: torch.nn.functional.conv1d(x, torch.ones(1, 1, 5), padding=2)

    x = torch.randn(1, 1, 50)
    whole = model_fn_for(slice(None))(x, None)
    assert torch.allclose(windowed(model_fn_for, 50, 7, 2)(x, None), whole, atol=1e-6)


def test_the_api_schema_takes_its_bounds_from_the_limits_table():
    from server.api.models import JobRequest

    props = JobRequest.model_json_schema()["properties"]

    def bounds(name):
        p = props[name]
        p = next((a for a in p.get("anyOf", [p]) if a.get("type") != "null"), p)
        return p.get("minimum"), p.get("maximum")

    assert bounds("fps") == (limits.MIN_FPS, limits.MAX_FPS)
    assert bounds("samples") == (1, limits.MAX_SAMPLES)
    assert bounds("steps") == (1, limits.MAX_STEPS)
    assert bounds("seed") == (0, limits.MAX_SEED)
    assert bounds("guidance") == (0, limits.MAX_GUIDANCE)
    assert bounds("style_guidance") == (0, limits.MAX_STYLE_GUIDANCE)
    assert bounds("lip_closure") == (0, limits.MAX_LIP_CLOSURE)
    assert bounds("offset") == (-limits.MAX_OFFSET_FRAMES, limits.MAX_OFFSET_FRAMES)
    assert props["keys"]["maxItems"] == limits.MAX_KEYS
    transcript = next(a for a in props["transcript"]["anyOf"] if a.get("type") == "string")
    assert transcript["maxLength"] == limits.MAX_TRANSCRIPT_CHARS


def test_engine_and_audio_decoding_use_the_limits_table():
    import server.audio
    import server.engine

    assert server.audio.MAX_DURATION_S == limits.MAX_AUDIO_SECONDS
    assert not any(name.startswith("MAX_") for name in vars(server.engine))  # no limits of its own


@pytest.mark.parametrize("field,over", [("fps", limits.MAX_FPS + 1), ("samples", limits.MAX_SAMPLES + 1),
                                        ("steps", limits.MAX_STEPS + 1), ("guidance", limits.MAX_GUIDANCE + 0.5),
                                        ("style_guidance", limits.MAX_STYLE_GUIDANCE + 0.5),
                                        ("lip_closure", limits.MAX_LIP_CLOSURE + 0.5),
                                        ("seed", limits.MAX_SEED + 1)])
def test_check_request_refuses_just_past_each_limit_and_names_the_field(field, over):
    from server.audio import Audio
    from server.request import GenerationRequest, check_request

    audio = Audio(samples=np.zeros(16000, np.float32), sample_rate=16000)
    check_request(GenerationRequest(audio=audio), style_input=True)
    with pytest.raises(FieldError) as e:
        check_request(GenerationRequest(audio=audio, **{field: over}), style_input=True)
    assert e.value.field == field and str(e.value).startswith(field + ": ")
