"""Synthetic speech corpus: real espeak-ng (and flite/festival when installed) synthesis,
phone timings, stop-closure correction, augmentation alignment, resume and determinism."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from server.audio import SAMPLE_RATE as SR
from server.corpus import build_corpus, build_tiny, read_manifest
from server.corpus import augment
from server.corpus.build import make_clean, synth_phrase, available_voices
from server.corpus.engines import Voice, festival_voices, flite_voices
from server.corpus.phones import correct_stop_closures, espeak_to_arpabet, to_arpabet, validate
from server.corpus.engines import synth
from server.phones import NON_SPEECH, OPEN_VOWELS, PHONES

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VOICELESS_STOPS = {"P", "T", "K"}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("corpus") / "tiny")
    summary = build_tiny(out, n_items=8, seed=0)
    return out, summary


def _load(out, row):
    audio, rate = sf.read(os.path.join(out, row["wav"]), dtype="float32")
    info = sf.info(os.path.join(out, row["wav"]))
    with open(os.path.join(out, row["json"])) as f:
        meta = json.load(f)
    return audio, rate, info, meta


def test_layout_and_phone_timings(tiny):
    out, summary = tiny
    rows = read_manifest(out)
    assert len(rows) == 16 and summary["items"] == 16          # 8 base items x (clean + 1 augmented)
    assert len({r["id"] for r in rows}) == 16
    for row in rows:
        audio, rate, info, meta = _load(out, row)
        assert rate == SR and info.channels == 1 and info.subtype == "PCM_16"
        duration = len(audio) / SR
        assert meta["duration"] == pytest.approx(duration, abs=1e-4)
        assert set(meta) >= {"id", "text", "engine", "voice", "augment", "source_id", "duration", "phones", "split"}
        assert meta["split"] in ("train", "heldout")
        phones = [tuple(p) for p in meta["phones"]]
        validate(phones, duration, tol=2e-4)                     # contiguous, sorted, cover [0, duration]
        assert {p for p, _, _ in phones} <= PHONES
        assert phones[0][0] == "SIL" and phones[-1][0] == "SIL"  # utterances begin and end in silence
        assert sum(p not in NON_SPEECH for p, _, _ in phones) >= 3
    with open(os.path.join(out, "corpus.json")) as f:
        corpus = json.load(f)
    assert corpus["finished"] and corpus["config"]["seed"] == 0
    assert any(v.startswith("espeak:") for v in corpus["heldout_voices"])


def test_silence_spans_are_silent_and_speech_is_not(tiny):
    out, _ = tiny
    for row in read_manifest(out):
        if row["augment"] is not None:
            continue
        audio, _, _, meta = _load(out, row)
        for p, s, e in meta["phones"]:
            seg = audio[int(s * SR):int(e * SR)]
            if p == "SIL" and e - s > 0.1:
                # Leading/trailing/phrase pauses we inserted are digital silence; engine pauses near zero.
                inner = audio[int((s + 0.03) * SR):int((e - 0.03) * SR)]
                assert np.sqrt(np.mean(inner ** 2)) < 0.01, (row["id"], p, s, e)
            if p in OPEN_VOWELS - {"AH"} and e - s > 0.05:
                assert np.sqrt(np.mean(seg ** 2)) > 0.01, (row["id"], p, s, e)


def test_espeak_mapping_covers_accent_specific_phonemes():
    assert espeak_to_arpabet("A@", rhotic=True) == ("AA", "R")
    assert espeak_to_arpabet("A@", rhotic=False) == ("AA",)
    assert espeak_to_arpabet("@L", rhotic=False) == ("AH", "L")
    with pytest.raises(ValueError, match="no ARPAbet mapping"):
        espeak_to_arpabet("zzz", rhotic=True)


def test_stop_correction_moves_voiceless_stops_over_their_closure():
    voice = Voice("espeak", "en-us", rate=1.0, pitch=50, pitch_range=50)
    audio, raw = synth("A happy puppy kept a top hat.", voice)
    uncorrected = to_arpabet(raw, lambda n: espeak_to_arpabet(n, rhotic=True))
    corrected = correct_stop_closures(uncorrected, audio, SR)
    validate(corrected, len(audio) / SR)
    moved = []
    for (p, s0, _), (q, s1, _) in zip(uncorrected, corrected):
        assert p == q
        if p in VOICELESS_STOPS:
            moved.append(s0 - s1)
            # The span now starts inside the closure: its first 15 ms are quiet next to the vowel peaks.
            head = audio[int(s1 * SR):int((s1 + 0.015) * SR)]
            assert np.sqrt(np.mean(head ** 2)) < 0.02 * np.max(np.abs(audio)), (p, s1)
        else:
            assert s1 <= s0 + 1e-9
    assert len(moved) >= 6 and np.median(moved) > 0.02        # espeak marks the release: ~30 ms closures
    # The full phrase pipeline applies the correction.
    _, phones = synth_phrase("A happy puppy kept a top hat.", voice)
    assert [s for p, s, _ in phones if p == "P"] == pytest.approx([s for p, s, _ in corrected if p == "P"], abs=0.003)


@pytest.mark.parametrize("engine", ["flite", "festival"])
def test_other_engines_give_arpabet_timings(engine):
    names = flite_voices() if engine == "flite" else festival_voices()
    if not names:
        pytest.skip(f"{engine} is not installed")
    voice = Voice(engine, names[0], rate=1.0, pitch=0, pitch_range=0)
    audio, phones = synth_phrase("Bob moved five thick boots.", voice)
    validate(phones, len(audio) / SR)
    labels = [p for p, _, _ in phones]
    for expected in ("B", "AA", "M", "UW", "V", "F", "TH"):
        assert expected in labels, (engine, labels)


def test_augmentation_changes_audio_and_speed_keeps_phones_aligned():
    voices = available_voices(("espeak",))
    audio, phones, _ = make_clean(3, 0, voices, max_phrases=3)
    long_pauses = [(s, e) for p, s, e in phones if p == "SIL" and e - s > 0.2]
    assert long_pauses
    for speed in (0.85, 1.18):
        out, scaled = augment.apply(audio, list(phones), {"speed": speed, "peak_db": -3.0}, [])
        duration = len(out) / SR
        validate(scaled, duration, tol=2e-4)
        assert duration == pytest.approx(len(audio) / SR / speed, rel=0.01)
        for (p, s, e), (q, s2, e2) in zip(phones, scaled):
            assert p == q and s2 == pytest.approx(s / speed, rel=0.01, abs=2e-3)
            if p == "SIL" and e - s > 0.2:
                inner = out[int((s2 + 0.02) * SR):int((e2 - 0.02) * SR)]
                assert np.max(np.abs(inner)) < 0.01, (speed, s2, e2)
            if p in OPEN_VOWELS - {"AH", "AO"} and e - s > 0.06:
                seg = out[int(s2 * SR):int(e2 * SR)]
                assert np.sqrt(np.mean(seg ** 2)) > 0.01
    bank = [make_clean(i, 0, voices, max_phrases=1)[0] for i in (5, 6, 7)]
    rng = np.random.default_rng(1)
    for _ in range(4):
        params = augment.draw(rng)
        params.pop("speed")
        out, same = augment.apply(audio, list(phones), params, bank)
        assert same == phones and len(out) == len(audio)
        assert np.isfinite(out).all() and np.max(np.abs(out)) <= 1.0
        assert np.sqrt(np.mean((out / np.max(np.abs(out)) - audio / np.max(np.abs(audio))) ** 2)) > 0.01


def test_noise_respects_requested_snr():
    voices = available_voices(("espeak",))
    audio, _, _ = make_clean(2, 0, voices, max_phrases=1)
    noisy = augment.add_noise(audio, {"kind": "white", "snr_db": 20.0, "seed": 4}, [])
    noise = noisy - audio
    frames = audio[:len(audio) // 160 * 160].reshape(-1, 160)
    power = np.mean(frames ** 2, axis=1)
    speech = np.mean(power[power > power.max() * 1e-3])
    assert 10 * np.log10(speech / np.mean(noise ** 2)) == pytest.approx(20.0, abs=0.5)


def test_formant_shift_moves_spectrum_but_keeps_length():
    voices = available_voices(("espeak",))
    audio, _, _ = make_clean(1, 0, voices, max_phrases=1)
    up = augment.shift_formants(audio, 1.15)
    down = augment.shift_formants(audio, 0.88)
    assert len(up) == len(audio) == len(down)

    def centroid(x):
        spec = np.abs(np.fft.rfft(x)) ** 2
        return np.sum(np.fft.rfftfreq(len(x), 1 / SR) * spec) / np.sum(spec)
    assert centroid(down) < centroid(audio) < centroid(up)


def test_resume_skips_finished_items_and_repairs_a_torn_manifest(tmp_path):
    out = str(tmp_path / "c")
    build_tiny(out, n_items=3, seed=1)
    rows = read_manifest(out)
    mtimes = {r["id"]: os.stat(os.path.join(out, r["wav"])).st_mtime_ns for r in rows}
    # Simulate a kill: the last item's rows half written, plus a torn line.
    with open(os.path.join(out, "manifest.jsonl")) as f:
        lines = f.readlines()
    with open(os.path.join(out, "manifest.jsonl"), "w") as f:
        f.writelines(lines[:5])
        f.write('{"id": "000002_au')
    summary = build_tiny(out, n_items=4, seed=1)                  # resume and extend by one item
    rows = read_manifest(out)
    assert [r["id"] for r in rows] == [f"{i:06d}_{k}" for i in range(4) for k in ("clean", "aug1")]
    assert summary["items"] == 8 and summary["finished"]
    for item_id in ("000000_clean", "000000_aug1", "000001_clean", "000001_aug1"):
        assert os.stat(os.path.join(out, "items", item_id + ".wav")).st_mtime_ns == mtimes[item_id]
    assert not [n for n in os.listdir(os.path.join(out, "items")) if ".tmp" in n]
    with pytest.raises(ValueError, match="seed"):
        build_tiny(out, n_items=4, seed=2)


def test_same_seed_same_corpus_other_seed_differs(tmp_path):
    a, b, c = (str(tmp_path / n) for n in "abc")
    build_tiny(a, n_items=2, seed=7)
    build_tiny(b, n_items=2, seed=7)
    build_tiny(c, n_items=2, seed=8)
    for row in read_manifest(a):
        for ext in ("wav", "json"):
            with open(os.path.join(a, row[ext]), "rb") as fa, open(os.path.join(b, row[ext]), "rb") as fb:
                assert fa.read() == fb.read(), row[ext]
    assert [r["text"] for r in read_manifest(a)] != [r["text"] for r in read_manifest(c)]


def test_cli_builds_and_rejects_bad_arguments(tmp_path):
    script = os.path.join(REPO, "scripts", "make_corpus")
    bad = subprocess.run([script, "--out", str(tmp_path / "x"), "--hours", "0"], capture_output=True, text=True)
    assert bad.returncode != 0 and "--hours must be positive" in bad.stderr
    bad = subprocess.run([script, "--out", str(tmp_path / "x"), "--hours", "1", "--engines", "sapi"],
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "unknown engines" in bad.stderr
    ok = subprocess.run([script, "--out", str(tmp_path / "y"), "--hours", "0.004", "--engines", "espeak",
                         "--augment", "0", "--workers", "2"], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    result = json.loads(ok.stdout.strip().splitlines()[-1])
    assert result["clean_hours"] >= 0.004 and result["hours"] == result["clean_hours"]
    rows = read_manifest(str(tmp_path / "y"))
    assert [r["index"] for r in rows] == sorted(r["index"] for r in rows)


def test_micro_pauses_inside_speech_are_absorbed_but_real_pauses_stay():
    from server.corpus.phones import absorb_short_pauses
    phones = [("SIL", 0.0, 0.01), ("B", 0.01, 0.08), ("SIL", 0.08, 0.09), ("AA", 0.09, 0.2),
              ("SIL", 0.2, 0.5), ("M", 0.5, 0.6), ("SIL", 0.6, 0.61)]
    assert absorb_short_pauses(phones) == [("SIL", 0.0, 0.01), ("B", 0.01, 0.09), ("AA", 0.09, 0.2),
                                           ("SIL", 0.2, 0.5), ("M", 0.5, 0.6), ("SIL", 0.6, 0.61)]


def test_lot_vowel_is_rounded_outside_american_accents():
    assert espeak_to_arpabet("0", rhotic=True) == ("AA",)
    assert espeak_to_arpabet("0", rhotic=False, rounded_lot=True) == ("AO",)


def test_band_limits_remove_high_frequencies():
    voices = available_voices(("espeak",))
    audio, _, _ = make_clean(1, 0, voices, max_phrases=1)

    def share_above(x, hz):
        spec = np.abs(np.fft.rfft(x)) ** 2
        return spec[np.fft.rfftfreq(len(x), 1 / SR) > hz].sum() / spec.sum()
    assert share_above(augment.band_limit(audio, {"kind": "telephone"}), 4000) < share_above(audio, 4000) / 50
    lowpassed = augment.band_limit(audio, {"kind": "lowpass", "cutoff": 5000.0})
    assert share_above(lowpassed, 6000) < share_above(audio, 6000) / 50
