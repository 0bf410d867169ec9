"""addon.core.jobplan: what a job writes and what the sidecar sees around it (no Blender)."""

import pytest

from addon.core import arkit, jobplan
from addon.core.jobplan import PlanError


def test_context_widens_the_write_range_inside_the_scene():
    assert jobplan.context_range((60, 100), (1, 400), 24) == (12, 148)
    assert jobplan.context_range((10, 100), (1, 120), 24) == (1, 120)
    assert jobplan.context_range((1, 400), (1, 400), 30) == (1, 400)


def test_the_same_range_always_gives_the_same_context():
    """What makes a take's seed reproduce it through every path."""
    a = jobplan.context_range((60, 100), (1, 400), 24)
    b = jobplan.context_range((60, 100), (1, 400), 24)
    assert a == b


def test_inbetween_writes_between_the_pins_and_a_settle_span():
    assert jobplan.inbetween_range([120.0, 200.0, 150.0], (1, 400), 24) == (108, 212)
    assert jobplan.inbetween_range([5, 30], (1, 400), 24) == (1, 42)
    with pytest.raises(PlanError, match="at least two frames"):
        jobplan.inbetween_range([50.0, 50.2], (1, 400), 24)


def test_locked_muted_and_switched_off_channels_are_kept():
    mapped = [c for c in arkit.CHANNELS if c != "tongueOut"]
    split = jobplan.split_channels(mapped, locked=["browInnerUp"], muted=["eyeBlinkLeft"], groups_off=["eyes"])
    assert split.kept["browInnerUp"] == "locked" and split.kept["eyeBlinkLeft"] == "muted"
    assert split.kept["eyeWideRight"] == "Eyes off"
    assert "jawOpen" in split.written and "browInnerUp" not in split.written
    assert not set(split.written) & set(arkit.GROUPS["eyes"])
    regenerated = split.regenerate_channels
    assert "tongueOut" in regenerated  # unmapped: left to the model, never written
    assert "browInnerUp" not in regenerated and "jawOpen" in regenerated
    assert jobplan.split_channels(mapped).regenerate_channels is None
    with pytest.raises(PlanError, match="switch a channel group on"):
        jobplan.split_channels(["jawOpen"], groups_off=["jaw_mouth"])
    with pytest.raises(ValueError):
        jobplan.split_channels(mapped, groups_off=["ears"])


def test_request_ranges():
    everything = jobplan.split_channels(arkit.CHANNELS)
    assert jobplan.request_ranges((1, 100), (1, 100), everything) == jobplan.RequestRanges(False, None, None)
    part = jobplan.request_ranges((12, 148), (60, 100), everything)
    assert part == jobplan.RequestRanges(True, (48, 88), None)
    mouth_only = jobplan.split_channels(arkit.CHANNELS, groups_off=["eyes", "brows", "cheeks_nose"])
    whole = jobplan.request_ranges((1, 100), (1, 100), mouth_only)
    assert whole.needs_existing and whole.regenerate == (0, 99)
    assert set(whole.regenerate_channels) == set(arkit.GROUPS["jaw_mouth"] + arkit.GROUPS["tongue"])
    with pytest.raises(ValueError):
        jobplan.request_ranges((12, 50), (40, 60), everything)


def test_summarize_kept():
    assert jobplan.summarize_kept({}) == ""
    text = jobplan.summarize_kept({"browInnerUp": "locked", "browDownLeft": "locked", "eyeBlinkLeft": "Eyes off",
                                   "eyeBlinkRight": "Eyes off"})
    assert text == "4 channels kept (locked: browInnerUp, browDownLeft; Eyes off)"
