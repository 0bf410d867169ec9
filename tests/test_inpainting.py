"""Pins are met exactly; regenerated ranges keep every other frame and join without a seam."""

import numpy as np
import pytest

from addon.core.arkit import INDEX
from server.audio import load_audio
from server.diffusion.inpainting import harmonize
from server.engine import GenerationRequest, Key
from server.errors import InputError


@pytest.fixture(scope="module")
def audio(speech_wav):
    return load_audio(str(speech_wav))


def test_pins_are_met_exactly(engine, audio):
    keys = [Key(5, "jawOpen", 0.8), Key(40, "JawOpen", 0.0), Key(41, "mouth_smile_L", 0.65),
            Key(70, "eyeBlinkRight", 1.0), Key(0, "browInnerUp", 0.3)]
    for fps in (24, 30, 60):
        takes = engine.generate(GenerationRequest(audio=audio, fps=fps, samples=3, keys=keys)).takes
        for k in keys:
            c = INDEX[{"JawOpen": "jawOpen", "mouth_smile_L": "mouthSmileLeft"}.get(k.channel, k.channel)]
            assert np.abs(takes[:, k.frame, c] - k.value).max() <= 1e-4


def test_pins_do_not_spike(engine, audio):
    """The pin's neighbours follow it: no single-frame spike to a far-off value."""
    free = engine.generate(GenerationRequest(audio=audio, seed=4)).takes[0]
    c = INDEX["jawOpen"]
    target = 1.0 - free[30, c]
    pinned = engine.generate(GenerationRequest(audio=audio, seed=4, keys=[Key(30, "jawOpen", float(target))])).takes[0]
    assert pinned[30, c] == pytest.approx(target, abs=1e-4)
    assert abs(pinned[29, c] - target) < abs(free[29, c] - target)
    assert abs(pinned[31, c] - target) < abs(free[31, c] - target)


def _edge_metrics(take, start, end):
    """Jumps in value and velocity at the edges vs the largest the take makes elsewhere."""
    d1 = np.abs(np.diff(take, axis=0))
    d2 = np.abs(np.diff(take, n=2, axis=0))
    edges1 = [start - 1, end]  # d1[i] = take[i+1] - take[i]
    edges2 = [start - 2, start - 1, end - 1, end]
    inner1 = np.delete(d1, edges1, axis=0)
    inner2 = np.delete(d2, edges2, axis=0)
    return d1[edges1].max(axis=0), inner1.max(axis=0), d2[edges2].max(axis=0), inner2.max(axis=0)


@pytest.mark.parametrize("fps", [24, 30, 60])
def test_regenerated_range_keeps_outside_and_joins_smoothly(engine, audio, fps):
    prev = engine.generate(GenerationRequest(audio=audio, fps=fps, seed=11)).takes[0]
    start, end = int(prev.shape[0] * 0.3), int(prev.shape[0] * 0.6)
    edited = engine.generate(GenerationRequest(audio=audio, fps=fps, seed=99, existing=prev,
                                               regenerate=(start, end))).takes[0]
    outside = np.r_[0:start, end + 1:prev.shape[0]]
    assert np.array_equal(edited[outside], prev[outside])
    assert np.abs(edited[start:end + 1] - prev[start:end + 1]).max() > 1e-3  # it did regenerate
    edge_v, inner_v, edge_a, inner_a = _edge_metrics(edited, start, end)
    # A step the kept animation already makes at the edge (a blink falling there) is not a seam: the
    # bound is the largest step elsewhere, or the original's own step at the edges give or take 15%
    # (the joined side follows that motion; a seam would be a step well above both).
    prev_edge_v, _, prev_edge_a, _ = _edge_metrics(prev, start, end)
    assert np.all(edge_v <= np.maximum(inner_v, 1.15 * prev_edge_v) + 1e-6), "value jump at an edge larger than anywhere else"
    assert np.all(edge_a <= np.maximum(inner_a, 1.15 * prev_edge_a) + 1e-6), "velocity jump at an edge larger than anywhere else"


def test_edit_with_pins_inside_the_range(engine, audio):
    prev = engine.generate(GenerationRequest(audio=audio, seed=1)).takes[0]
    r = engine.generate(GenerationRequest(audio=audio, seed=2, existing=prev, regenerate=(20, 60),
                                          keys=[Key(40, "jawOpen", 0.9)])).takes[0]
    assert r[40, INDEX["jawOpen"]] == pytest.approx(0.9, abs=1e-4)
    assert np.array_equal(r[:20], prev[:20]) and np.array_equal(r[61:], prev[61:])


def test_harmonize_joins_value_and_slope():
    T = 60
    t = np.arange(T)
    known = np.stack([0.5 + 0.3 * np.sin(t / 6)] * 2, axis=1)
    model = known + 0.2  # the model misses by a constant
    mask = np.zeros((T, 2), bool)
    mask[:20] = mask[40:] = True
    out = harmonize(model, known, mask, width=8)
    assert np.allclose(out[mask], known[mask], atol=1e-6)
    vel = np.diff(out[:, 0])
    assert abs(vel[20] - vel[19]) < 0.02 and abs(vel[39] - vel[40]) < 0.02


@pytest.mark.parametrize("kwargs,field", [
    (dict(keys=[Key(0, "notAChannel", 0.5)]), "keys\\[0\\].channel"),
    (dict(keys=[Key(10_000, "jawOpen", 0.5)]), "keys\\[0\\].frame"),
    (dict(keys=[Key(3, "jawOpen", float("nan"))]), "keys\\[0\\].value"),
    (dict(keys=[Key(3, "jawOpen", 1.5)]), "keys\\[0\\].value"),
    (dict(regenerate=(5, 10)), "regenerate"),
    (dict(samples=0), "samples"),
    (dict(steps=100000), "steps"),
    (dict(guidance=-1.0), "guidance"),
    (dict(fps=0.0), "fps"),
])
def test_bad_requests_name_the_field(engine, audio, kwargs, field):
    with pytest.raises(InputError, match=field):
        engine.generate(GenerationRequest(audio=audio, **kwargs))


def test_bad_existing_curves(engine, audio):
    prev = engine.generate(GenerationRequest(audio=audio)).takes[0]
    with pytest.raises(InputError, match="existing.frames: .* frames"):
        engine.generate(GenerationRequest(audio=audio, existing=prev[:-3], regenerate=(1, 5)))
    with pytest.raises(InputError, match="regenerate: range"):
        engine.generate(GenerationRequest(audio=audio, existing=prev, regenerate=(9, 4)))
    bad = prev.copy()
    bad[3, 3] = np.inf
    with pytest.raises(InputError, match="NaN or infinite"):
        engine.generate(GenerationRequest(audio=audio, existing=bad, regenerate=(1, 5)))


def test_kept_channels_keep_existing_on_every_frame(engine, audio):
    """Per-channel inpainting: regenerate the mouth under kept upper-face animation."""
    from addon.core.arkit import GROUPS, UPPER_FACE_CHANNELS

    prev = engine.generate(GenerationRequest(audio=audio, seed=3)).takes[0]
    T = prev.shape[0]
    mouth = GROUPS["jaw_mouth"]
    r = engine.generate(GenerationRequest(audio=audio, seed=8, existing=prev, regenerate=(0, T - 1),
                                          regenerate_channels=mouth)).takes[0]
    kept = [INDEX[c] for c in UPPER_FACE_CHANNELS + GROUPS["tongue"]]
    assert np.array_equal(r[:, kept], prev[:, kept])
    regenerated = [INDEX[c] for c in mouth]
    assert np.abs(r[:, regenerated] - prev[:, regenerated]).max() > 1e-3


def test_kept_channels_inside_a_range(engine, audio):
    prev = engine.generate(GenerationRequest(audio=audio, seed=3)).takes[0]
    r = engine.generate(GenerationRequest(audio=audio, seed=8, existing=prev, regenerate=(20, 60),
                                          regenerate_channels=("jawOpen", "mouthClose"))).takes[0]
    others = [i for i in range(prev.shape[1]) if i not in (INDEX["jawOpen"], INDEX["mouthClose"])]
    assert np.array_equal(r[:, others], prev[:, others])
    assert np.array_equal(r[:20], prev[:20]) and np.array_equal(r[61:], prev[61:])
    assert np.abs(r[20:61, INDEX["jawOpen"]] - prev[20:61, INDEX["jawOpen"]]).max() > 1e-3


def _best_lag(a, b, max_lag):
    """The shift s (frames) that best lines up a[t] with b[t + s]."""
    def corr(s):
        x, y = (a[:len(a) - s], b[s:]) if s >= 0 else (a[-s:], b[:len(b) + s])
        return np.corrcoef(x, y)[0, 1]
    return max(range(-max_lag, max_lag + 1), key=corr)


def test_offset_leads_the_mouth(engine, audio):
    """offset=+4 frames: the mouth does 4 frames earlier what it does without the offset."""
    base = engine.generate(GenerationRequest(audio=audio, seed=5, lip_closure=0)).takes[0]
    lead = engine.generate(GenerationRequest(audio=audio, seed=5, lip_closure=0, offset=4)).takes[0]
    lag = engine.generate(GenerationRequest(audio=audio, seed=5, lip_closure=0, offset=-4)).takes[0]
    c = INDEX["jawOpen"]
    assert _best_lag(lead[:, c], base[:, c], 8) == 4
    assert _best_lag(lag[:, c], base[:, c], 8) == -4
    with pytest.raises(InputError, match="offset"):
        engine.generate(GenerationRequest(audio=audio, offset=31))  # more than 1 s at 30 fps


def test_harmonize_meets_a_pinned_extreme_without_overshoot():
    """A steep rise into a pin that ends a known run is not carried past it (In-between's first pin)."""
    T = 40
    known = np.zeros((T, 1))
    known[:20, 0] = 0.1
    known[20, 0] = 0.8  # the pin: an extreme
    mask = np.zeros((T, 1), bool)
    mask[:21] = True
    model = np.full((T, 1), 0.3)
    pinned = np.zeros((T, 1), bool)
    pinned[20] = True
    carried = harmonize(model, known, mask, width=6)  # without knowing it is a pin: carries 0.7/frame
    assert carried[21:24, 0].max() > 0.8
    out = harmonize(model, known, mask, width=6, pinned=pinned)
    assert out[20, 0] == pytest.approx(0.8)
    assert out[21:, 0].max() <= 0.8 + 1e-6
    assert np.all(np.diff(out[20:30, 0]) <= 1e-9)  # leaves the extreme downhill, no bounce


def test_harmonize_keeps_an_isolated_pinned_peak_the_peak():
    """The model peaks a frame after a pinned jaw-open pose: the pose stays the peak."""
    T = 40
    t = np.arange(T, dtype=float)
    model = (0.85 * np.exp(-((t - 21) / 3.0) ** 2))[:, None]
    known = np.zeros((T, 1))
    known[20, 0] = 0.8
    mask = known > 0
    out = harmonize(model, known, mask, width=6, pinned=mask)
    assert out[20, 0] == pytest.approx(0.8)
    assert out[14:27, 0].max() <= 0.8 + 1e-6
    assert harmonize(model, known, mask, width=6)[21, 0] > 0.8  # without the rule it overshoots


@pytest.mark.parametrize("fps", [24, 30])
def test_the_replaced_curve_never_changes_the_result(engine, audio, fps):
    """Only the kept frames condition an edit: what the range held before is irrelevant, so a
    seed gives the same take whatever was there (a take reproduced by Regenerate Range)."""
    prev = engine.generate(GenerationRequest(audio=audio, fps=fps, seed=11)).takes[0]
    other = prev.copy()
    start, end = 20, 45
    other[start:end + 1] = np.random.default_rng(0).uniform(0, 1, size=other[start:end + 1].shape)
    a = engine.generate(GenerationRequest(audio=audio, fps=fps, seed=5, existing=prev, regenerate=(start, end))).takes[0]
    b = engine.generate(GenerationRequest(audio=audio, fps=fps, seed=5, existing=other, regenerate=(start, end))).takes[0]
    np.testing.assert_allclose(a, b, atol=1e-6)
