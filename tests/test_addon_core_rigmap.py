"""Rig mapping: shape keys <-> ARKit channels, and the report an animator reads."""

from addon.core import arkit, rigmap


def test_canonical_rig_maps_all_52_and_skips_the_basis():
    names = ["Basis", *arkit.CHANNELS]
    mapping = rigmap.auto_map(names, reference="Basis")
    assert mapping == {c: c for c in arkit.CHANNELS}
    report = rigmap.check_mapping(mapping, names, reference="Basis")
    assert report.ok and not report.unmapped_channels and not report.unused_keys


def test_renamed_partial_rig():
    names = ["Basis", "JawOpen", "mouth_smile_L", "MouthSmile_R", "eyeBlink.L", "Sculpt_fix"]
    mapping = rigmap.auto_map(names, reference="Basis")
    assert mapping == {
        "jawOpen": "JawOpen", "mouthSmileLeft": "mouth_smile_L",
        "mouthSmileRight": "MouthSmile_R", "eyeBlinkLeft": "eyeBlink.L",
    }
    report = rigmap.check_mapping(mapping, names, reference="Basis")
    assert report.unused_keys == ["Sculpt_fix"]
    assert len(report.unmapped_channels) == 48 and "jawOpen" not in report.unmapped_channels
    assert report.summary().startswith("4 of 52 ARKit channels mapped")


def test_edited_mapping_problems_are_reported():
    names = ["Basis", "JawOpen", "Smile"]
    edited = {"jawOpen": "JawOpen", "mouthSmileLeft": "Smile", "mouthSmileRight": "Smile",
              "cheekPuff": "Gone", "mouthClose": "Basis", "notAChannel": "JawOpen", "tongueOut": ""}
    report = rigmap.check_mapping(edited, names, reference="Basis")
    assert report.mapped == {"jawOpen": "JawOpen", "mouthSmileLeft": "Smile"}
    text = "\n".join(report.problems)
    assert "already driven by mouthSmileLeft" in text
    assert "'Gone' does not exist" in text
    assert "reference (basis)" in text
    assert "'notAChannel' is not an ARKit channel" in text
    assert not report.ok and "tongueOut" in report.unmapped_channels
