"""Frame-rate conversion and the add-on's frame semantics."""

import math

import pytest

from addon.core import resample


def test_scene_fps_uses_fps_base():
    assert resample.scene_fps(30, 1.001) == pytest.approx(29.97002997)
    assert resample.scene_fps(24) == 24.0
    with pytest.raises(ValueError, match="positive"):
        resample.scene_fps(24, 0)


def test_range_arithmetic():
    assert resample.frame_count(10, 57) == 48
    assert resample.range_duration(1, 48, 24.0) == pytest.approx(2.0)
    assert resample.to_request_frame(37, 25) == 12 and resample.to_scene_frame(12, 25) == 37
    with pytest.raises(ValueError, match="before its start"):
        resample.frame_count(10, 9)


def test_same_rate_is_identity():
    rows = [[0.1, 0.2], [0.3, 0.4]]
    assert resample.resample_frames(rows, 24, 24) == rows


def test_upsampling_interpolates_linearly():
    values = [0.0, 1.0, 0.0]
    out = resample.resample_channel(values, 30, 60, 6)
    assert out[:5] == pytest.approx([0.0, 0.5, 1.0, 0.5, 0.0])
    assert out[5] == 0.0  # past the end holds the last value


def test_downsampling_keeps_a_closure_shorter_than_a_frame():
    # 60 fps: mouth open, closed for one 60 fps frame, open again.
    values = [0.6] * 7 + [0.0] + [0.6] * 8
    out = resample.resample_channel(values, 60, 24, 6)
    assert min(out) == 0.0


def test_downsampling_a_smooth_curve_follows_it():
    src = [math.sin(i / 60 * 2 * math.pi) for i in range(120)]
    out = resample.resample_frames([[v] for v in src], 60, 25)
    assert len(out) == 50
    for t, (v,) in enumerate(out[:40]):
        assert v == pytest.approx(math.sin(t / 25 * 2 * math.pi), abs=0.02)
