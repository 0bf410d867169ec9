"""The ARKit channel contract: 52 names, groups, and name matching in every rig spelling."""

import pytest

from addon.core import arkit


def test_52_unique_names_in_apple_order():
    assert len(arkit.CHANNELS) == 52 == len(set(arkit.CHANNELS))
    assert arkit.CHANNELS[0] == "eyeBlinkLeft" and arkit.CHANNELS[17] == "jawOpen"
    assert arkit.CHANNELS[-1] == "tongueOut"


def test_groups_partition_the_channels():
    grouped = [n for names in arkit.GROUPS.values() for n in names]
    assert sorted(grouped) == sorted(arkit.CHANNELS)
    assert arkit.group_of("jawOpen") == "jaw_mouth" and arkit.group_of("browInnerUp") == "brows"
    assert arkit.group_of("cheekPuff") == "cheeks_nose" and arkit.group_of("tongueOut") == "tongue"


@pytest.mark.parametrize("name,expected", [
    ("jawOpen", "jawOpen"), ("JawOpen", "jawOpen"), ("jaw_open", "jawOpen"), ("JAW_OPEN", "jawOpen"),
    ("EyeBlinkLeft", "eyeBlinkLeft"), ("eye_blink_left", "eyeBlinkLeft"), ("eyeBlink_L", "eyeBlinkLeft"),
    ("eyeBlink.L", "eyeBlinkLeft"), ("L_eyeBlink", "eyeBlinkLeft"), ("eyeBlink_R", "eyeBlinkRight"),
    ("mouth_smile_L", "mouthSmileLeft"), ("mouthSmile.R", "mouthSmileRight"), ("R_mouthSmile", "mouthSmileRight"),
    ("browOuterUp_L", "browOuterUpLeft"), ("cheekSquint_R", "cheekSquintRight"),
    ("ARKit_jawOpen", "jawOpen"), ("blendShape1.mouthFunnel", "mouthFunnel"), ("tongue_out", "tongueOut"),
    ("mouthLeft", "mouthLeft"), ("mouthRight", "mouthRight"), ("browInnerUp", "browInnerUp"),
])
def test_canonical_name_accepts_rig_spellings(name, expected):
    assert arkit.canonical_name(name) == expected


@pytest.mark.parametrize("name", ["Basis", "Key 1", "smile", "jaw", "eyeBlink", "", "mouthSmileMiddle"])
def test_non_arkit_names_are_not_matched(name):
    assert arkit.canonical_name(name) is None


def test_every_channel_round_trips_through_every_spelling():
    import re

    for c in arkit.CHANNELS:
        snake = re.sub(r"([A-Z])", r"_\1", c).lower()
        assert arkit.canonical_name(snake) == c
        assert arkit.canonical_name(arkit.pascal_case(c)) == c
        assert arkit.canonical_name(c.upper()) == c


def test_match_names_prefers_exact_and_reports_only_matches():
    names = ["Basis", "JawOpen", "jawOpen", "mouth_smile_L", "custom_wrinkle"]
    m = arkit.match_names(names)
    assert m == {"jawOpen": "jawOpen", "mouthSmileLeft": "mouth_smile_L"}
