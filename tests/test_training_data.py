"""Training data: features and teacher curves stay aligned in time through caching and cropping."""

import numpy as np
import torch

from server.face.lip_opening import lip_opening
from server.features import LogMelEncoder
from server.training.data import build_stream, random_batch


def test_crops_cover_the_same_time_span(tiny_corpus, tmp_path):
    enc = LogMelEncoder()
    stream = build_stream(tiny_corpus, enc, cache_dir=tmp_path)
    feats, curves, _style = random_batch(stream, 4, 60, torch.Generator().manual_seed(0))
    assert feats.shape[-1] / enc.input_rate == curves.shape[-1] / 30.0
    assert stream.features.shape[1] / enc.input_rate == stream.frames / 30.0


def test_loudness_and_lip_opening_peak_together(tiny_corpus, tmp_path):
    """Speech energy and the teacher's lip opening correlate best at lag 0 (not a halved time scale)."""
    enc = LogMelEncoder()
    stream = build_stream(tiny_corpus, enc, cache_dir=tmp_path)
    energy = stream.features.float().mean(0).numpy()
    idx = np.minimum((np.arange(stream.frames) * enc.input_rate / 30).astype(int), len(energy) - 1)
    e, o = energy[idx], lip_opening(stream.curves.numpy())
    corr = {lag: np.corrcoef(e[max(0, lag):len(e) + min(0, lag)], o[max(0, -lag):len(o) - max(0, lag)])[0, 1]
            for lag in range(-8, 9, 2)}
    assert max(corr, key=corr.get) == 0 and corr[0] > 0.3


def test_cache_is_reused_and_gives_the_same_stream(tiny_corpus, tmp_path):
    enc = LogMelEncoder()
    a = build_stream(tiny_corpus, enc, cache_dir=tmp_path)
    files = sorted(p.name for p in tmp_path.iterdir())
    b = build_stream(tiny_corpus, enc, cache_dir=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == files
    assert torch.equal(a.curves, b.curves) and torch.equal(a.features, b.features)
