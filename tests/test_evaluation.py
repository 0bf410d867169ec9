"""Evaluation: lip opening, forced alignment, lip-sync metrics, model figures, scripts/evaluate."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from addon.core.arkit import CHANNELS, INDEX, NUM_CHANNELS
from server.audio import SAMPLE_RATE
from server.evaluation import lipsync
from server.evaluation.model_figures import diversity, jitter, pin_error, random_keys, seam_jump
from server.face.lip_opening import (LIP_GAINS, find_inner_lip_pairs, lip_opening, load_mesh_lip_model,
                                     read_obj)
from server.phones import ARPABET

ROOT = Path(__file__).resolve().parent.parent
FPS = 30.0


def pose(**weights) -> np.ndarray:
    w = np.zeros(NUM_CHANNELS)
    for name, value in weights.items():
        w[INDEX[name]] = value
    return w


# --- lip opening ------------------------------------------------------------------------------

def test_lip_opening_reference_poses():
    assert lip_opening(pose()) == pytest.approx(0.003, abs=0.001)
    assert lip_opening(pose(jawOpen=1.0)) == pytest.approx(1.0, abs=1e-3)
    assert lip_opening(pose(jawOpen=1.0, mouthClose=1.0)) == 0.0      # clamped: lips cannot cross
    assert lip_opening(pose(mouthFunnel=1.0)) == pytest.approx(0.23, abs=0.005)
    frames = np.stack([pose(), pose(jawOpen=0.5), pose(jawOpen=1.0)])
    assert lip_opening(frames).shape == (3,)
    assert set(LIP_GAINS) <= set(CHANNELS)


def test_lip_opening_rejects_wrong_channel_count():
    with pytest.raises(ValueError, match="52 ARKit channels"):
        lip_opening(np.zeros((4, 51)))


def _write_obj(path: Path, vertices: np.ndarray, quads: list[tuple[int, ...]]) -> None:
    lines = [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in vertices]
    lines += ["f " + " ".join(str(i + 1) for i in quad) for quad in quads]
    path.write_text("\n".join(lines) + "\n")


def test_mesh_lip_model_finds_the_inner_lip_and_measures_the_gap(tmp_path):
    # A grid face: columns x = -4..4, rows y from +3 down to -3 with the two lip rows 0.1 apart.
    # The mouth is a hole between the lip rows for x in -3..3; a 2x1 eye hole sits above it.
    xs = np.arange(-4, 5, dtype=float)
    ys = [3.0, 2.0, 1.0, 0.05, -0.05, -1.0, -2.0, -3.0]
    vid = {(r, c): r * len(xs) + c for r in range(len(ys)) for c in range(len(xs))}
    neutral = np.array([[xs[c], ys[r], 0.0] for r in range(len(ys)) for c in range(len(xs))])
    quads = []
    for r in range(len(ys) - 1):
        for c in range(len(xs) - 1):
            mouth = r == 3 and 1 <= c < 7
            eye = r == 0 and c in (5, 6)
            if not (mouth or eye):
                quads.append((vid[r, c], vid[r + 1, c], vid[r + 1, c + 1], vid[r, c + 1]))
    below = neutral[:, 1] < 0
    # jawOpen lowers the lower face, most at the lips; mouthClose lifts the lower lip back.
    jaw = np.zeros_like(neutral)
    jaw[below, 1] = -0.5 * np.exp(-(np.abs(neutral[below, 1]) - 0.05) / 2.0)
    close = np.zeros_like(neutral)
    close[[vid[4, c] for c in range(len(xs))], 1] = 0.5
    _write_obj(tmp_path / "Neutral.obj", neutral, quads)
    _write_obj(tmp_path / "jawOpen.obj", neutral + jaw, quads)
    _write_obj(tmp_path / "mouthClose.obj", neutral + close, quads)

    vertices, faces = read_obj(tmp_path / "Neutral.obj")
    assert faces.shape == (2 * len(quads), 3)                        # quads fanned into triangles
    upper, lower = find_inner_lip_pairs(vertices, neutral + jaw, faces)
    assert upper == [vid[3, 3], vid[3, 4], vid[3, 5]]                # x = -1, 0, +1 on the upper lip
    assert lower == [vid[4, 3], vid[4, 4], vid[4, 5]]
    model = load_mesh_lip_model(tmp_path)
    assert model.jaw_open_gap == pytest.approx(0.6)
    assert model.lip_opening(pose()) == pytest.approx(0.1 / 0.6)
    assert model.lip_opening(pose(jawOpen=1.0)) == pytest.approx(1.0)
    assert model.lip_opening(pose(jawOpen=1.0, mouthClose=1.0)) == pytest.approx(0.1 / 0.6)
    assert model.lip_opening(pose(mouthClose=1.0)) == 0.0


def test_mesh_lip_model_says_what_is_missing(tmp_path):
    (tmp_path / "Neutral.obj").write_text("v 0 0 0\n")
    with pytest.raises(FileNotFoundError, match="jawOpen.obj"):
        load_mesh_lip_model(tmp_path)


# --- lip-sync metrics on constructed curves ---------------------------------------------------

# 0.5 s silence, "AA M AA P AA B AA", a 0.6 s pause, "AE M AY", 0.5 s silence.
PHONES = [("SIL", 0.0, 0.5), ("AA", 0.5, 0.65), ("M", 0.65, 0.72), ("AA", 0.72, 0.87), ("P", 0.87, 0.95),
          ("AA", 0.95, 1.1), ("B", 1.1, 1.16), ("AA", 1.16, 1.3), ("SIL", 1.3, 1.9), ("AE", 1.9, 2.05),
          ("M", 2.05, 2.12), ("AY", 2.12, 2.3), ("SIL", 2.3, 2.8)]
N_FRAMES = int(round(2.8 * FPS))


def opening_from(levels: dict[str, float]) -> np.ndarray:
    """A lip-opening curve holding levels[phone] over each phone (frame t at t / fps)."""
    out = np.zeros(N_FRAMES)
    times = np.arange(N_FRAMES) / FPS
    for phone, start, end in PHONES:
        out[(times >= start) & (times < end)] = levels.get(phone, levels.get("*", 0.0))
    return out


def test_closing_on_every_bilabial_scores_one_and_never_closing_zero():
    closes = opening_from({"M": 0.0, "P": 0.0, "B": 0.0, "SIL": 0.0, "*": 0.5})
    assert lipsync.bilabial_closure(closes, PHONES, FPS).value == 1.0
    assert lipsync.bilabial_closure(closes, PHONES, FPS).total == 4
    assert lipsync.open_vowels(closes, PHONES, FPS).value == 1.0
    assert lipsync.rest(closes, PHONES, FPS).value == 1.0
    never = np.full(N_FRAMES, 0.3)
    assert lipsync.bilabial_closure(never, PHONES, FPS).value == 0.0
    assert lipsync.rest(never, PHONES, FPS).value == 0.0
    assert lipsync.open_vowels(never, PHONES, FPS).value == 1.0      # 0.3 >= 0.15
    assert lipsync.open_vowels(np.full(N_FRAMES, 0.1), PHONES, FPS).value == 0.0


def test_closure_threshold_is_five_percent():
    assert lipsync.bilabial_closure(opening_from({"*": 0.05}), PHONES, FPS).value == 1.0
    assert lipsync.bilabial_closure(opening_from({"*": 0.06}), PHONES, FPS).value == 0.0


def test_a_closure_shorter_than_a_frame_is_still_seen():
    # A 20 ms "P" between frame times 15 (0.5 s) and 16 (0.533 s): frame 16's window holds it.
    phones = [("AA", 0.0, 0.51), ("P", 0.51, 0.53), ("AA", 0.53, 1.0)]
    assert list(lipsync.frames_of_span(0.51, 0.53, FPS, 30)) == [15, 16]
    opening = np.full(30, 0.5)
    opening[16] = 0.0
    assert lipsync.bilabial_closure(opening, phones, FPS).value == 1.0
    opening[16] = 0.5
    opening[18] = 0.0          # two frames late: only a tolerance of 2 frames accepts it
    assert lipsync.bilabial_closure(opening, phones, FPS).value == 0.0
    assert lipsync.bilabial_closure(opening, phones, FPS, tolerance_frames=2).value == 1.0


def test_rest_leaves_out_the_edges_of_a_pause_next_to_speech():
    opening = opening_from({"SIL": 0.0, "*": 0.5})
    times = np.arange(N_FRAMES) / FPS
    opening[(times >= 1.3) & (times < 1.38)] = 0.4      # still closing in the pause's first 0.1 s
    assert lipsync.rest(opening, PHONES, FPS).value == 1.0
    opening[(times >= 1.5) & (times < 1.6)] = 0.4       # open in the middle of the pause: 3 frames
    share = lipsync.rest(opening, PHONES, FPS)
    assert share.total - share.hits == 3
    # The file's leading silence counts from its very start (no speech before it).
    frames = lipsync.rest_frames(PHONES, FPS, N_FRAMES)
    assert frames[0] == 0 and frames[-1] == N_FRAMES - 1


def _modulated_noise(seconds: float, rate: int, seed: int):
    """Noise under a smooth random envelope, and the envelope at 30 fps."""
    rng = np.random.default_rng(seed)
    n_frames = int(seconds * FPS)
    envelope = np.convolve(rng.uniform(0, 1, n_frames + 8), np.hanning(7), mode="same")[4:4 + n_frames]
    envelope = np.maximum(envelope - envelope.mean() * 0.6, 0.01)
    samples_env = np.interp(np.arange(int(seconds * rate)) / rate, np.arange(n_frames) / FPS, envelope)
    return rng.standard_normal(len(samples_env)) * samples_env, envelope


@pytest.mark.parametrize("shift_ms", [60.0, -90.0, 0.0])
def test_sync_recovers_the_lag_of_a_shifted_signal(shift_ms):
    rate = SAMPLE_RATE
    samples, envelope = _modulated_noise(8.0, rate, seed=3)
    # Lips that follow the loudness shift_ms later: opening(t) = envelope(t - shift).
    times = np.arange(len(envelope)) / FPS
    opening = np.interp(times - shift_ms / 1000.0, times, envelope)
    result = lipsync.sync(opening, FPS, samples, rate)
    assert result.lag_ms == pytest.approx(shift_ms, abs=12.0)
    assert result.correlation > 0.7
    unrelated = np.random.default_rng(9).uniform(0, 1, len(envelope))
    assert lipsync.sync(unrelated, FPS, samples, rate).correlation < 0.3


def test_pooling_adds_counts_and_weights_sync_by_duration():
    rate = SAMPLE_RATE
    samples, envelope = _modulated_noise(2.8, rate, seed=4)
    good = lipsync.score_lipsync(opening_from({"M": 0, "P": 0, "B": 0, "SIL": 0, "*": 0.5}), PHONES, FPS,
                                 samples, rate)
    bad = lipsync.score_lipsync(np.full(N_FRAMES, 0.3), PHONES, FPS, samples, rate)
    pooled = lipsync.pool([good, bad])
    assert (pooled.closure.hits, pooled.closure.total) == (4, 8)
    assert pooled.closure.value == 0.5
    assert pooled.seconds == pytest.approx(5.6)


# --- model figures on constructed takes -------------------------------------------------------

def test_diversity_jitter_pins_and_seams():
    base = np.tile(np.linspace(0, 1, 40)[:, None], (1, NUM_CHANNELS))
    takes = np.stack([base, base + 0.1, base - 0.1])
    assert diversity(np.stack([base, base]), list(range(NUM_CHANNELS))) == 0.0
    assert diversity(takes, [0, 1]) == pytest.approx(np.std([0.0, 0.1, -0.1]))
    assert jitter(base) == pytest.approx(0.0, abs=1e-12)               # a straight line does not shake
    zigzag = np.zeros((40, NUM_CHANNELS))
    zigzag[::2] = 0.1
    assert jitter(zigzag) == pytest.approx(0.2)                       # |0.1 - 2*0 + 0.1|
    keys = random_keys(np.random.default_rng(0), 40, 5)
    assert len({f for f, _, _ in keys}) == 5
    pinned = base.copy()
    for frame, channel, value in keys:
        pinned[frame, INDEX[channel]] = value
    assert pin_error(pinned, keys) == 0.0
    pinned[keys[0][0], INDEX[keys[0][1]]] += 0.25
    assert pin_error(pinned, keys) == pytest.approx(0.25)
    smooth = np.tile(np.sin(np.linspace(0, 6, 90))[:, None], (1, NUM_CHANNELS))
    assert seam_jump(smooth, 30, 59).value <= seam_jump(smooth, 30, 59).value_p95_elsewhere + 1e-9
    stepped = smooth.copy()
    stepped[30:60] += 0.2
    jump = seam_jump(stepped, 30, 59)
    assert jump.value == pytest.approx(0.2, abs=0.07) and jump.value > 3 * jump.value_p95_elsewhere


# --- forced alignment and speech folders (real pocketsphinx, real espeak-ng speech) -------------

def _espeak(path: Path, text: str, pad_s: float = 0.5) -> Path:
    """espeak-ng speech at 16 kHz with ``pad_s`` of silence before and after; phrases split by '|'
    get 0.6 s of silence between them."""
    from scipy.signal import resample_poly

    pieces = []
    for i, phrase in enumerate(text.split("|")):
        raw = path.with_suffix(f".{i}.raw.wav")
        subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(raw), phrase], check=True)
        samples, rate = soundfile.read(raw, dtype="float32")
        pieces.append(resample_poly(samples, SAMPLE_RATE // np.gcd(SAMPLE_RATE, rate), rate // np.gcd(SAMPLE_RATE, rate)).astype(np.float32))
    gap = np.zeros(int(0.6 * SAMPLE_RATE), np.float32)
    joined = np.concatenate([p if i == 0 else np.concatenate([gap, p]) for i, p in enumerate(pieces)])
    pad = np.zeros(int(pad_s * SAMPLE_RATE), np.float32)
    soundfile.write(path, np.concatenate([pad, joined, pad]), SAMPLE_RATE)
    return path


@pytest.fixture(scope="module")
def sentence(tmp_path_factory):
    folder = tmp_path_factory.mktemp("speech")
    text = "Bob bought a big map of Boston. | My father saw the moon."
    return _espeak(folder / "bob.wav", text), text.replace("|", "")


def test_alignment_returns_the_transcripts_phones_in_order_with_plausible_times(sentence):
    from server.audio import load_audio
    from server.speech.alignment import align

    wav, text = sentence
    audio = load_audio(str(wav))
    result = align(audio.samples, text)
    assert [w for w, _, _ in result.words] == "bob bought a big map of boston my father saw the moon".split()
    phones = result.phones
    assert phones[0][1] == 0.0 and phones[-1][2] == pytest.approx(audio.duration)
    assert all(a[2] == pytest.approx(b[1]) for a, b in zip(phones, phones[1:]))        # contiguous
    allowed = set(ARPABET) | {"SIL"}
    assert {p for p, _, _ in phones} <= allowed
    speech = [p for p, _, _ in phones if p != "SIL"]
    # "bob" starts B AA B; "map" is M AE P; "moon" is M UW N (dictionary pronunciations, in order).
    assert speech[:3] == ["B", "AA", "B"] and speech[-3:] == ["M", "UW", "N"]
    assert "M AE P" in " ".join(speech)
    # The 0.5 s of leading silence, and the 0.6 s pause between the phrases, are found.
    assert phones[0][0] == "SIL" and phones[0][2] == pytest.approx(0.5, abs=0.12)
    boston_end = [e for w, _, e in result.words if w == "boston"][0]
    pauses = [(s, e) for p, s, e in phones if p == "SIL" and e - s > 0.4]
    assert any(abs(s - boston_end) < 0.15 for s, _ in pauses)


def test_alignment_picks_the_spoken_alternative_and_explains_bad_transcripts(tmp_path):
    from server.audio import load_audio
    from server.speech.alignment import AlignmentError, align

    audio = load_audio(str(_espeak(tmp_path / "dogs.wav", "Dogs are sitting by the door.", pad_s=0.3)))
    result = align(audio.samples, "kids are talking by the door || dogs are sitting by the door")
    assert result.transcript == "dogs are sitting by the door"
    assert len(result.alternatives_tried) == 2
    with pytest.raises(AlignmentError, match="not in pocketsphinx's English dictionary: zzyzxq"):
        align(audio.samples, "dogs are zzyzxq by the door")
    with pytest.raises(AlignmentError, match="spell numbers out"):
        align(audio.samples, "2 dogs")


def test_speech_folder_transcripts_from_txt_tsv_and_readme(tmp_path):
    from server.evaluation.speech_set import speech_items

    for name in ("a", "b", "talk_one", "talk_two", "talk_long"):
        (tmp_path / f"{name}.wav").write_bytes(b"")
    (tmp_path / "a.txt").write_text("hello there\n")
    (tmp_path / "transcripts.tsv").write_text("# name\ttext\na.wav\tignored: a.txt wins\nb\t-\tnoisy\n")
    items = {i.name: i for i in speech_items(tmp_path)}
    assert items["a"].transcript == "hello there"
    assert items["b"].transcript is None and items["b"].note == "noisy"
    assert items["talk_one"].transcript is None
    readme = tmp_path / "README.md"
    readme.write_text(
        "| file | seconds | transcript |\n|---|---|---|\n"
        "| a.wav | 1.0 | (known) severe myopia |\n"
        "| b.wav | 2.0 | (recogniser output unreliable) |\n"
        '| talk_*.wav | 3 | short ones say "kids are here" or "dogs are there"; long is a lecture |\n')
    items = {i.name: i for i in speech_items(tmp_path, readme)}
    assert items["a"].transcript == "severe myopia"
    assert items["b"].transcript is None and "unreliable" in items["b"].note
    assert items["talk_one"].transcript == "kids are here || dogs are there"
    assert items["talk_long"].transcript is None and items["talk_long"].note == "long is a lecture"


# --- the engine's figures and scripts/evaluate, with a tiny trained model ------------------------

def test_model_figures_from_a_real_engine(engine, sentence):
    from server.audio import load_audio
    from server.evaluation.model_figures import measure_model

    figures = measure_model(engine, load_audio(str(sentence[0])), samples=3, pins=6)
    assert figures.pin_error <= 1e-4                        # the engine's pins are exact
    assert figures.outside_change <= 1e-6                   # frames outside a regenerated range are kept
    assert figures.upper_diversity > 0.0
    assert figures.seconds_per_second > 0.0
    assert np.isfinite([figures.jitter, figures.seam.value, figures.seam.velocity]).all()


def test_evaluate_prints_one_table_with_model_and_references(tmp_path, sentence, tiny_checkpoint, tiny_corpus):
    real = tmp_path / "real"
    real.mkdir()
    wav, text = sentence
    (real / "bob.wav").write_bytes(wav.read_bytes())
    (real / "bob.txt").write_text(text)
    (real / "mystery.wav").write_bytes(wav.read_bytes())       # no transcript: reported as skipped
    out = tmp_path / "RESULTS.md"
    done = subprocess.run([str(ROOT / "scripts" / "evaluate"), "--checkpoint", str(tiny_checkpoint),
                           "--real", str(real), "--heldout", str(tiny_corpus), "--samples", "2",
                           "--out", str(out)], capture_output=True, text=True, env=_env())
    assert done.returncode == 0, done.stderr
    table = [line for line in done.stdout.splitlines() if line.startswith("|")]
    assert table[0].startswith("| figure | model (audio only) | model told English (+ word recogniser) "
                               "| model without closure guidance | teacher on alignment | jaw follows loudness")
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]] for line in table[2:]}
    model, english, denoiser, teacher, jaw = next(v for k, v in rows.items() if "p/b/m closed" in k)[:5]
    assert float(teacher.split()[0]) >= 0.75                   # the teacher closes
    # Even the tiny model closes the lips where recognition finds p/b/m, which it cannot on its own.
    assert float(english.split()[0]) >= 0.75
    assert all(c not in ("", "—", "no model") for c in (model, english, denoiser, jaw))
    heldout_closure = next(v for k, v in rows.items() if "closure at the synthesiser's phone times" in k)
    assert all(c not in ("", "—", "no model") for c in heldout_closure[:3] + heldout_closure[4:5])
    assert any("held-out" in k for k in rows) and any("pin error" in k for k in rows)
    assert "Skipped mystery: no transcript" in done.stdout
    assert "[evaluate" in done.stderr                         # progress on stderr
    assert out.read_text().count("| figure |") == 1


def test_evaluate_explains_bad_arguments(tmp_path):
    done = subprocess.run([str(ROOT / "scripts" / "evaluate"), "--real", str(tmp_path), "--no-model"],
                          capture_output=True, text=True, env=_env())
    assert done.returncode == 2 and "no .wav files" in done.stderr
    done = subprocess.run([str(ROOT / "scripts" / "evaluate")], capture_output=True, text=True, env=_env())
    assert done.returncode == 2 and "--real" in done.stderr


def _env():
    import os

    env = dict(os.environ)
    env["MOUTHPIECE_PYTHON"] = sys.executable
    return env
