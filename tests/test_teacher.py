"""The articulatory teacher: phones with timings -> ARKit curves (server/teacher)."""

from __future__ import annotations

import gzip
import importlib.machinery
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from addon.core.arkit import CHANNELS, INDEX, SPEECH_CHANNELS, UPPER_FACE_CHANNELS
from server.audio import SAMPLE_RATE
from server.face.lip_opening import CLOSED_THRESHOLD, lip_opening
from server.phones import BILABIALS, OPEN_VOWELS as PHONE_OPEN_VOWELS
from server.teacher import Style, loudness_envelope, teacher_curves, upper_face_stats

ROOT = Path(__file__).resolve().parent.parent
FPS = 30.0
OPEN_VOWELS = PHONE_OPEN_VOWELS - {"AH"}   # a schwa may stay half open


def utterance(spec, lead=0.5, tail=0.6):
    """(phones, duration) for [(phone, seconds), ...] framed by silences."""
    phones, t = [("SIL", 0.0, lead)], lead
    for phone, seconds in spec:
        phones.append((phone, t, t + seconds))
        t += seconds
    phones.append(("SIL", t, t + tail))
    return phones, t + tail


# "Bob, pass me a map; maybe Ben bought some bread.", timed by hand, with a 20 ms closure (the P
# of "map" released into a short vowel) and bilabials in clusters and at phrase edges.
SENTENCE = [
    ("B", 0.07), ("AA", 0.16), ("B", 0.08), ("SIL", 0.2), ("P", 0.06), ("AE", 0.14), ("S", 0.1),
    ("M", 0.07), ("IY", 0.1), ("AH", 0.05), ("M", 0.06), ("AE", 0.15), ("P", 0.02), ("SIL", 0.35),
    ("M", 0.06), ("EY", 0.12), ("B", 0.05), ("IY", 0.1), ("B", 0.06), ("EH", 0.12), ("N", 0.06),
    ("B", 0.05), ("AO", 0.15), ("T", 0.05), ("S", 0.09), ("AH", 0.06), ("M", 0.07), ("B", 0.04),
    ("R", 0.05), ("EH", 0.12), ("D", 0.07),
]


def frames_overlapping(start, end, n_frames, fps=FPS):
    """Frames whose window [t - 1/2 frame, t + 1/2 frame) overlaps [start, end]."""
    first = int(np.floor(start * fps + 0.5))
    last = int(np.ceil(end * fps - 0.5))
    return range(max(first, 0), min(max(last, first) + 1, n_frames))


def bilabial_min_openings(phones, curves, fps=FPS):
    opening = lip_opening(curves)
    return [(p, s, min(opening[f] for f in frames_overlapping(s, e, len(curves), fps)))
            for p, s, e in phones if p in BILABIALS]


@pytest.mark.parametrize("fps", [24.0, 30.0, 60.0])
def test_lips_close_on_every_bilabial_including_a_20ms_closure(fps):
    phones, duration = utterance(SENTENCE)
    assert any(p == "P" and abs((e - s) - 0.02) < 1e-9 for p, s, e in phones)
    curves = teacher_curves(phones, duration, fps=fps)
    for phone, start, minimum in bilabial_min_openings(phones, curves, fps):
        assert minimum <= 0.02, f"{phone} at {start:.2f} s: lips only reach opening {minimum:.3f}"
    for p, s, e in phones:
        if p in BILABIALS:
            frames = list(frames_overlapping(s, e, len(curves), fps))
            assert curves[frames, INDEX["mouthPressLeft"]].max() > 0.2, "bilabials press the lips"


def test_open_vowels_open_the_mouth_and_jaw_follows_openness():
    phones, duration = utterance(SENTENCE)
    curves = teacher_curves(phones, duration)
    opening = lip_opening(curves)
    for p, s, e in phones:
        if p in OPEN_VOWELS:
            frames = list(frames_overlapping(s, e, len(curves)))
            assert opening[frames].max() >= 0.25, f"{p} at {s:.2f} s opens only {opening[frames].max():.3f}"
    # a short vowel between two closures ("mum") still opens, and the closures still close
    ph, dur = utterance([("M", 0.06), ("AH", 0.06), ("M", 0.06), ("AH", 0.06), ("P", 0.05)])
    opening = lip_opening(teacher_curves(ph, dur))
    for p, s, e in ph[1:-1]:
        frames = list(frames_overlapping(s, e, len(opening)))
        if p == "AH":
            assert opening[frames].max() >= 0.15, f"AH at {s:.2f} s swallowed by the closures around it"
        else:
            assert opening[frames].min() <= 0.02
    # the same consonant frame around three vowels: jaw ranks with vowel openness
    jaw = {}
    for vowel in ("AA", "EH", "IY"):
        ph, dur = utterance([("HH", 0.08), (vowel, 0.2), ("D", 0.08)])
        jaw[vowel] = teacher_curves(ph, dur)[:, INDEX["jawOpen"]].max()
    assert jaw["AA"] > jaw["EH"] + 0.1 > jaw["IY"] + 0.2


def test_silence_is_a_relaxed_closed_mouth():
    phones, duration = utterance(SENTENCE, lead=1.0, tail=1.5)
    curves = teacher_curves(phones, duration, style=Style(smile=0.2, articulation=1.3, jaw_range=1.3))
    opening = lip_opening(curves)
    pauses = [(s, e) for p, s, e in phones if p == "SIL" and e - s > 0.3]
    assert len(pauses) == 3
    in_pauses = np.concatenate([np.arange(int(np.ceil(s * FPS)), int(e * FPS)) for s, e in pauses])
    in_pauses = in_pauses[in_pauses < len(curves)]
    closed = opening[in_pauses] <= CLOSED_THRESHOLD
    assert closed.mean() >= 0.9, f"only {closed.mean():.2f} of pause frames closed"
    # well inside the long pauses: fully at rest, jaw barely open, lips not pressed
    rest = np.arange(int(0.2 * FPS), int(0.8 * FPS))
    assert np.all(opening[rest] <= 0.02)
    assert np.all(curves[rest, INDEX["jawOpen"]] < 0.08)
    assert np.all(curves[rest, INDEX["mouthPressLeft"]] < 0.02)
    assert np.all(curves[rest, INDEX["mouthFunnel"]] < 0.02)


def test_rounding_is_anticipated_across_consonants():
    """In "strew" the lips round during S T R already; in "stree" they do not."""
    def pucker_on_s(vowel):
        ph, dur = utterance([("S", 0.1), ("T", 0.06), ("R", 0.06), (vowel, 0.2)])
        curves = teacher_curves(ph, dur)
        s_start = ph[1][1]
        frames = list(frames_overlapping(s_start + 0.05, s_start + 0.1, len(curves)))
        return curves[frames, INDEX["mouthPucker"]].mean()
    assert pucker_on_s("UW") > pucker_on_s("IY") + 0.1
    ph, dur = utterance([("W", 0.08), ("UW", 0.2), ("SIL", 0.3), ("OW", 0.25), ("SIL", 0.3), ("ER", 0.2)])
    curves = teacher_curves(ph, dur)
    for p, s, e in ph:
        if p in ("W", "UW", "OW", "ER"):
            frames = list(frames_overlapping(s, e, len(curves)))
            assert curves[frames, INDEX["mouthPucker"]].max() > 0.3, p
            assert curves[frames, INDEX["mouthFunnel"]].max() > 0.1, p


def test_labiodentals_and_dental_fricatives():
    ph, dur = utterance([("AA", 0.15), ("F", 0.1), ("AA", 0.15), ("V", 0.08), ("AH", 0.1), ("TH", 0.1), ("IY", 0.15)])
    curves = teacher_curves(ph, dur)
    opening = lip_opening(curves)
    for p, s, e in ph:
        frames = list(frames_overlapping(s, e, len(curves)))
        if p in ("F", "V"):
            assert curves[frames, INDEX["mouthRollLower"]].max() > 0.3
            assert curves[frames, INDEX["mouthUpperUpLeft"]].max() > 0.05
            assert opening[frames].min() < 0.06
            assert curves[frames, INDEX["jawOpen"]].min() < 0.15
        if p == "TH":
            assert 0.1 < curves[frames, INDEX["tongueOut"]].max() < 0.6
    vowels = [f for p, s, e in ph if p in ("AA", "IY") for f in frames_overlapping(s + 0.06, e - 0.06, len(curves))]
    assert curves[vowels, INDEX["tongueOut"]].max() < 0.05


def test_loudness_scales_jaw_opening():
    ph, dur = utterance([("HH", 0.08), ("AA", 0.2), ("D", 0.08), ("AA", 0.2), ("D", 0.08)])
    n = int(round(dur * FPS))
    second = next(s for p, s, e in ph[3:] if p == "AA")
    quiet_second = np.where(np.arange(n) / FPS >= second, 0.02, 0.2).astype(np.float32)
    curves = teacher_curves(ph, dur, loudness=quiet_second)
    jaw = curves[:, INDEX["jawOpen"]]
    first_jaw = jaw[: int(second * FPS)].max()
    second_jaw = jaw[int((second + 0.05) * FPS):].max()
    assert second_jaw < 0.85 * first_jaw
    as_function = teacher_curves(ph, dur, loudness=lambda t: np.where(t >= second, 0.02, 0.2))
    assert np.abs(as_function - curves).max() < 0.05


def test_curves_are_smooth_and_in_range():
    phones, duration = utterance(SENTENCE)
    for seed in range(3):
        curves = teacher_curves(phones, duration, style=Style.random(np.random.default_rng(seed)), seed=seed)
        assert curves.dtype == np.float32 and curves.shape == (round(duration * FPS), len(CHANNELS))
        assert curves.min() >= 0.0 and curves.max() <= 1.0
        mouth = curves[:, [INDEX[c] for c in SPEECH_CHANNELS]]
        step = np.abs(np.diff(mouth, axis=0))
        assert step.max() < 0.5, f"mouth jumps {step.max():.2f} in one frame"
        # no jitter: no channel zigzags (up, down, up on consecutive frames by more than 0.02),
        # although this sentence moves the lips at syllable rate
        d = np.diff(curves, axis=0)
        big = np.abs(d) > 0.02
        zigzag = (d[:-2] * d[1:-1] < 0) & (d[1:-1] * d[2:] < 0) & big[:-2] & big[1:-1] & big[2:]
        assert not zigzag.any(), [CHANNELS[j] for j in np.nonzero(zigzag)[1]]


def test_styles_vary_the_free_face_but_keep_closures():
    phones, duration = utterance(SENTENCE)
    rng = np.random.default_rng(7)
    takes = []
    for k in range(6):
        style = Style.random(rng)
        curves = teacher_curves(phones, duration, style=style, seed=k)
        for phone, start, minimum in bilabial_min_openings(phones, curves):
            assert minimum <= 0.02, f"style {style}: {phone} at {start:.2f} s opens {minimum:.3f}"
        takes.append(curves)
    takes = np.stack(takes)
    upper = takes[..., [INDEX[c] for c in UPPER_FACE_CHANNELS]]
    assert upper.std(axis=0).mean() > 0.02
    smile = takes[..., INDEX["mouthSmileLeft"]].mean(axis=1)
    assert smile.max() - smile.min() > 0.05
    # the speech channels differ too (articulation, jaw range) but much less than they move
    jaw = takes[..., INDEX["jawOpen"]]
    assert 0.005 < jaw.std(axis=0).mean() < jaw.std(axis=1).mean()


def test_deterministic_given_seed():
    phones, duration = utterance(SENTENCE)
    style = Style.random(np.random.default_rng(3))
    a = teacher_curves(phones, duration, style=style, seed=11)
    b = teacher_curves(phones, duration, style=style, seed=11)
    c = teacher_curves(phones, duration, style=style, seed=12)
    assert np.array_equal(a, b)
    upper = [INDEX[n] for n in UPPER_FACE_CHANNELS]
    assert np.abs(a[:, upper] - c[:, upper]).max() > 0.05
    mouth = [INDEX[n] for n in SPEECH_CHANNELS]
    assert np.array_equal(a[:, mouth], c[:, mouth]), "the seed only moves what speech leaves free"
    assert np.array_equal(Style.random(np.random.default_rng(5)).as_dict(), Style.random(np.random.default_rng(5)).as_dict())


def _measure_upper_face_module():
    """scripts/measure_upper_face as a module, to measure the teacher as it measured the takes."""
    loader = importlib.machinery.SourceFileLoader("measure_upper_face", str(ROOT / "scripts" / "measure_upper_face"))
    spec = importlib.util.spec_from_loader("measure_upper_face", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_blink_and_gaze_statistics_match_the_measured_takes():
    """Measured with the same code as the Live Link Face takes, the teacher's upper face matches them."""
    measure = _measure_upper_face_module()
    stats = upper_face_stats()
    # ten minutes of talk in 5-second phrases with half-second pauses
    spec = []
    for _ in range(110):
        spec += [("HH", 0.1), ("AH", 0.6), ("L", 0.5), ("OW", 0.6), ("M", 0.4), ("AA", 0.6), ("N", 0.5),
                 ("IY", 0.6), ("D", 0.5), ("EH", 0.6), ("SIL", 0.5)]
    phones, duration = utterance(spec)
    fps = 60.0

    def as_take(curves):
        return {name[0].upper() + name[1:]: curves[:, i].astype(np.float64) for i, name in enumerate(CHANNELS)}

    take = as_take(teacher_curves(phones, duration, fps=fps, seed=1))
    blinks = measure.blinks(take, fps)
    rate = blinks["events"] / duration * 60
    assert 0.75 * stats["blink"]["rate_per_min"] < rate < 1.3 * stats["blink"]["rate_per_min"]
    median_duration = np.median(blinks["durations"])
    assert 0.7 * stats["blink"]["duration_s"]["median"] < median_duration < 1.4 * stats["blink"]["duration_s"]["median"]
    assert abs(np.mean(blinks["peaks"]) - stats["blink"]["peak"]["mean"]) < 0.1
    assert np.abs(np.median(blinks["shapes"], axis=0) - stats["blink"]["shape"]).max() < 0.2
    gaze = measure.gaze(take, fps, blinks["mask"])
    measured = stats["gaze"]["saccade_rate_per_s"]
    assert 0.6 * measured < gaze["count"] / duration < 1.4 * measured
    assert 0.7 < np.median(gaze["amplitudes"]) / stats["gaze"]["amplitude"]["median"] < 1.4
    # a faster-blinking style blinks more
    fast = as_take(teacher_curves(phones, duration, fps=fps, seed=1, style=Style(blink_rate=2.0)))
    assert measure.blinks(fast, fps)["events"] > 1.5 * blinks["events"]


def test_brows_rise_on_emphasis():
    ph, dur = utterance([("HH", 0.08), ("AH", 0.1), ("L", 0.06), ("OW", 0.45), ("T", 0.05), ("IH", 0.08),
                         ("D", 0.05), ("AH", 0.08), ("N", 0.06), ("AA", 0.5), ("T", 0.06)])
    curves = teacher_curves(ph, dur, style=Style(brow_activity=1.5))
    brow = curves[:, INDEX["browInnerUp"]]
    long_vowels = [(s + e) / 2 for p, s, e in ph if p in ("OW", "AA")]
    short_vowels = [(s + e) / 2 for p, s, e in ph if p == "IH"]
    at = lambda t: brow[int(round(t * FPS))]
    assert max(at(t) for t in long_vowels) > at(0.1) + 0.1
    assert max(at(t) for t in long_vowels) > max(at(t) for t in short_vowels)


def test_bad_input_gets_a_clear_error():
    with pytest.raises(ValueError, match="unknown phone 'XX'"):
        teacher_curves([("XX", 0.0, 1.0)], 1.0)
    with pytest.raises(ValueError, match="must not overlap"):
        teacher_curves([("AA", 0.0, 0.6), ("B", 0.3, 1.0)], 1.0)
    with pytest.raises(ValueError, match="duration_s"):
        teacher_curves([("SIL", 0.0, 1.0)], 0.0)
    with pytest.raises(ValueError, match="loudness"):
        teacher_curves([("SIL", 0.0, 1.0)], 1.0, loudness=np.ones((30, 2)))
    with pytest.raises(TypeError, match="Style"):
        teacher_curves([("SIL", 0.0, 1.0)], 1.0, style={"smile": 1})
    with pytest.raises(ValueError, match="Style.smile"):
        Style(smile=3.0)
    # stress digits and lower case are accepted; gaps become silence
    curves = teacher_curves([("hh", 0.1, 0.2), ("AA1", 0.2, 0.5), ("M", 0.6, 0.7)], 1.0)
    assert curves.shape == (30, len(CHANNELS))


def test_loudness_envelope_follows_the_signal():
    sr = SAMPLE_RATE
    t = np.arange(2 * sr) / sr
    tone = np.sin(2 * np.pi * 220 * t) * np.where((t > 0.5) & (t < 1.5), 0.5, 0.01)
    env = loudness_envelope(tone.astype(np.float32), 30.0)
    assert env.shape == (60,)
    assert env[30] == pytest.approx(0.5 / np.sqrt(2), rel=0.05)
    assert env[5] < 0.02 and env[55] < 0.02


def test_measure_upper_face_script_on_a_synthetic_take(tmp_path):
    """The measuring script finds the blinks and saccades planted in a Live Link Face CSV."""
    fps, seconds = 60, 40
    n = fps * seconds
    names = ["".join(w[:1].upper() + w[1:] for w in [c]) for c in CHANNELS]
    data = np.zeros((n, 52))
    blink_starts = np.arange(2.0, 38.0, 4.0)                # 9 blinks: 13.5 per minute
    for s in blink_starts:
        k = int(s * fps)
        shape = np.concatenate([np.linspace(0, 0.8, 5), np.linspace(0.8, 0, 9)])
        data[k:k + len(shape), names.index("EyeBlinkLeft")] = shape
        data[k:k + len(shape), names.index("EyeBlinkRight")] = shape
    gaze = np.zeros(n)
    for i, s in enumerate(np.arange(1.0, 39.5, 2.0)):       # 20 saccades, between the blinks
        gaze[int(s * fps):] = 0.2 if i % 2 == 0 else 0.0
    data[:, names.index("EyeLookOutLeft")] = gaze
    data[:, names.index("EyeLookInRight")] = gaze
    data[:, names.index("BrowInnerUp")] = 0.1
    header = ["Timecode", "BlendshapeCount"] + names + ["HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw",
                                                         "LeftEyePitch", "LeftEyeRoll", "RightEyeYaw",
                                                         "RightEyePitch", "RightEyeRoll"]
    lines = [",".join(header)]
    for i in range(n):
        tc = f"10:00:{i // fps:02d}:{i % fps:02d}.000"
        lines.append(",".join([tc, "61"] + [f"{v:.4f}" for v in data[i]] + ["0"] * 9))
    takes = tmp_path / "takes"
    takes.mkdir()
    with gzip.open(takes / "take.csv.gz", "wt") as f:
        f.write("\n".join(lines) + "\n")
    out = tmp_path / "stats.json"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "measure_upper_face"), "--takes", str(takes),
                    "--out", str(out)], check=True, capture_output=True)
    stats = json.loads(out.read_text())
    assert stats["blink"]["rate_per_min"] == pytest.approx(len(blink_starts) / seconds * 60, rel=0.01)
    assert stats["blink"]["interval_s"]["median"] == pytest.approx(4.0, rel=0.02)
    assert 0.15 < stats["blink"]["duration_s"]["median"] < 0.25
    assert stats["gaze"]["saccade_rate_per_s"] == pytest.approx(20 / seconds, rel=0.01)
    assert stats["gaze"]["amplitude"]["median"] == pytest.approx(0.2, rel=0.05)
    assert stats["brow"]["inner_up"]["p50"] == pytest.approx(0.1)
