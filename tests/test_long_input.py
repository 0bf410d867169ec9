"""Long audio: windowed evaluation gives exactly the whole-sequence result (no seams)."""

import io

import numpy as np
import soundfile as sf
import torch

import server.engine as engine_module
from server.audio import load_audio
from server.engine import GenerationRequest, Key


def _long_audio(speech_wav, repeats):
    x, rate = sf.read(str(speech_wav), dtype="float32")
    buf = io.BytesIO()
    sf.write(buf, np.tile(np.concatenate([x, np.zeros(rate // 3, np.float32)]), repeats), rate, format="WAV")
    return load_audio(buf.getvalue())


def test_windows_match_the_whole_sequence(engine, speech_wav, monkeypatch):
    audio = _long_audio(speech_wav, 3)  # about 12 s: 360 model frames
    req = GenerationRequest(audio=audio, seed=5, samples=2, steps=4, keys=[Key(100, "jawOpen", 0.4)])
    whole = engine.generate(req).takes
    monkeypatch.setattr(engine_module, "WINDOW_FRAMES", 64)  # many windows, each with halos
    windowed = engine.generate(req).takes
    assert np.abs(whole - windowed).max() < 1e-4


def test_denoiser_output_depends_only_on_its_receptive_field(engine):
    d = engine.model.denoiser
    T, r = 300, d.receptive_radius
    g = torch.Generator().manual_seed(0)
    x, known = torch.randn(1, 52, T, generator=g), torch.randn(1, 52, T, generator=g)
    audio = torch.randn(1, d.audio_dim, T, generator=g)
    mask = torch.zeros(1, 52, T)
    t = torch.tensor([500])
    with torch.no_grad():
        full = d(x, t, audio, known, mask)
        x2 = x.clone()
        x2[..., 150 + r + 1:] += 5.0  # change everything beyond the radius of frame 150
        changed = d(x2, t, audio, known, mask)
    assert torch.allclose(full[..., :151], changed[..., :151], atol=1e-5)
    assert not torch.allclose(full[..., 151 + r:], changed[..., 151 + r:])


def test_long_audio_generates_with_progress(engine, speech_wav):
    audio = _long_audio(speech_wav, 12)  # about 50 s
    stages = []
    r = engine.generate(GenerationRequest(audio=audio, steps=3), progress=lambda f, s: stages.append(s))
    assert r.takes.shape[1] == int(np.ceil(audio.duration * 30 - 1e-6))
    assert "done" in stages and np.all(np.isfinite(r.takes))
