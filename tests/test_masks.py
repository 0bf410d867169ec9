"""Training masks: every kind appears, and each has the shape its editing case needs."""

import torch

from server.diffusion.masks import MASK_KINDS, random_mask


def test_each_kind_has_its_shape():
    g = torch.Generator().manual_seed(0)
    T = 120
    for _ in range(20):
        assert random_mask(T, g, "none").sum() == 0
        span = random_mask(T, g, "span")
        free_frames = (span.sum(0) == 0).nonzero().flatten()
        assert len(free_frames) >= 2 and free_frames.diff().eq(1).all()  # one contiguous gap
        prefix = random_mask(T, g, "prefix")
        assert prefix[:, 0].all() and not prefix[:, -1].any()
        suffix = random_mask(T, g, "suffix")
        assert suffix[:, -1].all() and not suffix[:, 0].any()
        keys = random_mask(T, g, "keyframes")
        kf = keys.sum(0)
        assert ((kf == 0) | (kf == 52)).all() and kf.sum() > 0
        ch = random_mask(T, g, "channels")
        per_channel = ch.sum(1)
        assert ((per_channel == 0) | (per_channel == T)).all()


def test_random_kinds_cover_all_and_are_seeded():
    a = [random_mask(60, torch.Generator().manual_seed(s)) for s in range(200)]
    b = [random_mask(60, torch.Generator().manual_seed(s)) for s in range(200)]
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    fractions = {round(float(m.mean()), 3) for m in a}
    assert 0.0 in fractions and any(0.3 < f < 0.97 for f in fractions)
    assert len(MASK_KINDS) == 7
