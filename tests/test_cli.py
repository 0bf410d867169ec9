"""The `mouthpiece` command end to end, as a subprocess on real audio."""

import json
import subprocess
import sys

import numpy as np
import pytest

from addon.core.curvefile import read_csv
from tests.conftest import ROOT


def run(*args, check=True):
    p = subprocess.run([sys.executable, "-m", "server", *map(str, args)], cwd=ROOT, capture_output=True, text=True)
    if check and p.returncode != 0:
        raise AssertionError(p.stderr)
    return p


def test_generate_samples_keys_and_edit(tiny_checkpoint, speech_wav, tmp_path):
    out = tmp_path / "take.csv"
    run("generate", speech_wav, "-o", out, "--checkpoint", tiny_checkpoint, "--samples", "3", "--fps", "24",
        "--seed", "4", "--steps", "6", "--guidance", "2")
    takes = [read_csv(tmp_path / f"take.{i}.csv", fps=24) for i in range(3)]
    assert len({t.num_frames for t in takes}) == 1 and takes[0].frames != takes[1].frames

    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps([{"frame": 12, "channel": "JawOpen", "value": 0.75},
                                {"frame": 30, "channel": "mouthFunnel", "value": 0.5}]))
    pinned = tmp_path / "pinned.csv"
    run("generate", speech_wav, "-o", pinned, "--checkpoint", tiny_checkpoint, "--keyframes", keys)
    t = read_csv(pinned)
    assert abs(t.column("jawOpen")[12] - 0.75) <= 1e-4 and abs(t.column("mouthFunnel")[30] - 0.5) <= 1e-4

    edited = tmp_path / "edited.csv"
    p = run("generate", speech_wav, "-o", edited, "--checkpoint", tiny_checkpoint, "--edit", pinned,
            "--range", "20:45", "--seed", "9", "--language", "en")  # English: the recogniser helps the detector
    a, b = np.array(t.frames), np.array(read_csv(edited).frames)
    assert np.abs(a[:20] - b[:20]).max() <= 1e-6 and np.abs(a[46:] - b[46:]).max() <= 1e-6
    assert np.abs(a[20:46] - b[20:46]).max() > 1e-3
    assert "100%" in p.stderr  # the progress bar
    assert "lip closures placed from the recognised words: " in p.stderr


def test_channels_and_offset(tiny_checkpoint, speech_wav, tmp_path):
    from addon.core.arkit import GROUPS, INDEX

    base = tmp_path / "base.csv"
    run("generate", speech_wav, "-o", base, "--checkpoint", tiny_checkpoint, "--seed", "3", "--lip-closure", "0")
    mouth = tmp_path / "mouth.csv"
    run("generate", speech_wav, "-o", mouth, "--checkpoint", tiny_checkpoint, "--edit", base, "--range", "0:60",
        "--channels", "jaw_mouth,tongue", "--seed", "4", "--lip-closure", "0")
    a, b = np.array(read_csv(base).frames), np.array(read_csv(mouth).frames)
    upper = [INDEX[c] for c in GROUPS["eyes"] + GROUPS["brows"] + GROUPS["cheeks_nose"]]
    assert np.abs(a[:, upper] - b[:, upper]).max() <= 1e-6
    assert np.abs(a[:61, INDEX["jawOpen"]] - b[:61, INDEX["jawOpen"]]).max() > 1e-3
    lead = tmp_path / "lead.csv"
    run("generate", speech_wav, "-o", lead, "--checkpoint", tiny_checkpoint, "--seed", "3", "--lip-closure", "0",
        "--offset", "2")
    c = np.array(read_csv(lead).frames)
    assert np.abs(c - a).max() > 1e-3


def test_lip_closure_off_skips_recognition(tiny_checkpoint, speech_wav, tmp_path):
    p = run("generate", speech_wav, "-o", tmp_path / "plain.csv", "--checkpoint", tiny_checkpoint, "--lip-closure", "0")
    assert "lip closure 0)" in p.stderr and "recognised words" not in p.stderr


def test_no_installed_model_says_how_to_train(speech_wav, tmp_path):
    from server.checkpoint import DEFAULT_CHECKPOINT

    if (DEFAULT_CHECKPOINT / "config.json").is_file():
        pytest.skip("a default model is installed")
    p = run("generate", speech_wav, "-o", tmp_path / "x.csv", check=False)
    assert p.returncode == 2 and "no model is installed" in p.stderr and "scripts/train" in p.stderr


@pytest.mark.parametrize("args,message", [
    (["--range", "3:9"], "--edit and --range go together"),
    (["--channels", "jaw_mouth"], "--channels needs --edit"),
    (["--offset", "40"], "offset: 40"),
    (["--keyframes", "/nonexistent.json"], "does not exist"),
    (["--lip-closure", "1.5"], "lip_closure: 1.5 is outside 0-1"),
    # the performance style and the speech options: one clear line each
    (["--style", "articulation=5"], "style.articulation: 5 is outside 0 to 2"),
    (["--style", "grin=1"], "unknown key 'grin'"),
    (["--style", "articulation"], "is not KEY=VALUE"),
    (["--style", "smile=lots"], "is not a number"),
    (["--emotion", "bored"], "not one of neutral"),
    (["--emotion", "happy:x"], "intensity 'x' is not a number"),
    (["--emotion", "happy:1.5"], "style.intensity: 1.5 is outside 0 to 1"),
    (["--match", "/no/such/take.csv"], "--match: /no/such/take.csv: no such file"),
    (["--language", "english!"], "is not a language code"),
    (["--transcript-file", "/no/such.txt"], "--transcript-file: /no/such.txt does not exist"),
    (["--style-guidance", "20"], "style_guidance: 20.0 is outside 0-10"),
])
def test_bad_arguments(tiny_checkpoint, speech_wav, tmp_path, args, message):
    p = run("generate", speech_wav, "-o", tmp_path / "x.csv", "--checkpoint", tiny_checkpoint, *args, check=False)
    assert p.returncode != 0 and message in p.stderr
    assert len([line for line in p.stderr.splitlines() if line.strip()]) == 1, p.stderr


def test_bad_audio_is_a_clear_error(tiny_checkpoint, tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all")
    p = run("generate", bad, "-o", tmp_path / "x.csv", "--checkpoint", tiny_checkpoint, check=False)
    assert p.returncode == 2 and "cannot decode" in p.stderr and "Traceback" not in p.stderr


def test_info(tiny_checkpoint):
    p = run("info", "--checkpoint", tiny_checkpoint)
    assert "device: cpu" in p.stdout and '"model": "tiny-test"' in p.stdout and '"hours"' in p.stdout


def test_train_set_needs_section_key_value():
    p = run("train", "--run", "/nonexistent/run", "--set", "lr=3", check=False)
    assert p.returncode != 0 and "SECTION.KEY=VALUE" in p.stderr
