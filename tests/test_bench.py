"""scripts/bench (server/bench.py): a tiny case on the tiny model prints the figures and the profile."""

import json
import time

import pytest

from server import bench


def test_cases_parse():
    assert bench.parse_cases("60x1, 60x8:en,600") == [(60.0, 1, "auto"), (60.0, 8, "en"), (600.0, 1, "auto")]
    with pytest.raises(SystemExit):
        bench.parse_cases("60xeight")
    with pytest.raises(SystemExit):
        bench.parse_cases("0x1")


def test_profile_stages_are_exclusive():
    profile = bench.Profile()
    inner = profile.wrap(lambda: time.sleep(0.02), "inner")
    outer = profile.wrap(lambda: (inner(), time.sleep(0.01)), "outer")
    outer()
    assert profile.seconds["inner"] >= 0.02
    assert 0.01 <= profile.seconds["outer"] < 0.02 + profile.seconds["inner"]


def test_bench_prints_figures_and_profile(tiny_checkpoint, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MOUTHPIECE_BENCH_CACHE", str(tmp_path))
    monkeypatch.setattr(bench, "CACHE", tmp_path)
    argv = ["--checkpoint", str(tiny_checkpoint), "--cases", "2x1,2x2:en", "--threads", "1", "--json"]
    assert bench.main(argv) == 0
    out = capsys.readouterr().out
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert [(r["seconds_audio"], r["samples"], r["language"]) for r in rows] == [(2.0, 1, "auto"), (2.0, 2, "en")]
    for r in rows:
        assert r["compute_s"] > 0 and r["x_real_time"] > 0 and r["peak_rss_mb"] > 0
        assert set(r["profile"]) == {key for key, _ in bench.STAGES}
        for key in ("decode", "encode", "denoiser", "resample", "harmonize"):
            assert r["stage_calls"][key] > 0 and r["profile"][key] > 0, key
        assert sum(r["profile"].values()) == pytest.approx(r["compute_s"], rel=0.05, abs=0.02)
        branches = 1 if r["guidance"] == 1.0 else 2
        assert r["denoiser_passes"] == r["steps"] * branches
    auto, en = rows
    assert en["recognition_ran"] and "recogniser" in en["closure_sources"] and en["profile"]["recognition"] > 0
    assert auto["recognition_ran"]  # "auto" keeps the English recogniser (server/speech/language.py)
    for label in [label for _, label in bench.STAGES] + ["denoiser passes per take", "total", "x real time",
                                                       "peak memory", "espeak-ng speech"]:
        assert label in out, label
    assert "2 s x2 en" in out

    assert bench.main(argv[:-1] + ["--markdown", "--audio", "sample"]) == 0
    md = capsys.readouterr().out
    assert "Made by `scripts/bench" in md and "| stage |" in md and "|---|" in md
    assert "shipped sample sentence" in md
