"""Curve files: Mouthpiece CSV, JSON and Live Link Face CSV round trips and bad files."""

import gzip
import random

import pytest

from addon.core import arkit
from addon.core.curvefile import (CurveFileError, CurveTake, read_any, read_csv, read_json, read_livelink_csv,
                                  write_csv, write_json, write_livelink_csv)


def _take(n=40, fps=30.0):
    rng = random.Random(1)
    return CurveTake(fps=fps, frames=[[rng.random() for _ in arkit.CHANNELS] for _ in range(n)])


def _close(a, b, tol):
    return all(abs(x - y) <= tol for ra, rb in zip(a.frames, b.frames) for x, y in zip(ra, rb))


def test_csv_round_trip(tmp_path):
    t = _take()
    write_csv(tmp_path / "a.csv", t)
    header = (tmp_path / "a.csv").read_text().splitlines()[0].split(",")
    assert header == ["frame"] + list(arkit.CHANNELS)
    back = read_csv(tmp_path / "a.csv")
    assert back.num_frames == 40 and _close(t, back, 1e-6)


def test_json_round_trip_keeps_fps(tmp_path):
    t = _take(fps=29.97)
    write_json(tmp_path / "a.json", t)
    back = read_json(tmp_path / "a.json")
    assert back.fps == 29.97 and _close(t, back, 0)


def test_livelink_round_trip_at_60fps(tmp_path):
    t = _take(fps=60.0, n=130)
    write_livelink_csv(tmp_path / "ll.csv", t)
    lines = (tmp_path / "ll.csv").read_text().splitlines()
    assert lines[0].startswith("Timecode,BlendshapeCount,EyeBlinkLeft,")
    assert lines[61].split(",")[0] == "00:00:01:00.000"  # frame 60 is one second in
    back = read_any(tmp_path / "ll.csv")
    assert back.fps == 60.0 and _close(t, back, 1e-9)


def test_livelink_gz_with_rotations_and_shuffled_columns(tmp_path):
    names = [arkit.pascal_case(n) for n in arkit.CHANNELS]
    cols = ["Timecode", "BlendshapeCount", "HeadYaw"] + names[::-1]
    row = ["00:00:00:01.000", "61", "0.3"] + [f"{i / 100:.2f}" for i in range(52)]
    p = tmp_path / "take.csv.gz"
    with gzip.open(p, "wt") as f:
        f.write(",".join(cols) + "\n" + ",".join(row) + "\n")
    t = read_livelink_csv(p)
    assert t.frames[0][arkit.INDEX["tongueOut"]] == 0.0  # first reversed column
    assert t.frames[0][arkit.INDEX["eyeBlinkLeft"]] == pytest.approx(0.51)


@pytest.mark.parametrize("text,message", [
    ("", "empty"),
    ("time,jawOpen\n0,1\n", "first column must be 'frame'"),
    ("frame,foo,bar\n0,1,2\n", "no ARKit channel"),
    ("frame,jawOpen\n0,abc\n", "not a number"),
    ("frame,jawOpen\n0,nan\n", "not a finite number"),
    ("frame,jawOpen,mouthClose\n0,0.5\n", "columns"),
])
def test_bad_csv_names_the_problem(tmp_path, text, message):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(CurveFileError, match=message):
        read_csv(p)


def test_csv_with_rig_spelling_and_missing_channels(tmp_path):
    p = tmp_path / "partial.csv"
    p.write_text("frame,JawOpen,mouth_smile_L\n0,0.5,0.25\n1,0.6,0.2\n")
    t = read_csv(p)
    assert t.column("jawOpen") == [0.5, 0.6] and t.column("mouthSmileLeft") == [0.25, 0.2]
    assert t.column("eyeBlinkLeft") == [0.0, 0.0]
