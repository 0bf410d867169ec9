"""Sound strips in formats the stdlib core cannot read (MP3, Ogg, FLAC, ADPCM WAV, packed or on
disk) are decoded by Blender itself and heard exactly where Blender plays them, also in a Blender
whose ``aud`` module cannot start because numpy is unusable (Debian's package): there Generate
still runs on an MP3 strip. A file Blender cannot read is an error that says what to do."""

import json
import os
import subprocess
import sys
import tempfile

import aud
import bpy
import numpy as np  # the tests' own checks; the add-on never imports it
import pytest

from addon.blender import audio
from addon.core.mixdown import MixdownError, decode_wav
from tests.blender.conftest import ROOT
from tests.blender.helpers import add_sound, new_scene, strip_end

FPS = 24.0
START = 11  # the strip's first frame; ranges start earlier, so audio time 0 is not the strip's start

_FORMATS = {"mp3": (aud.CONTAINER_MP3, aud.CODEC_MP3, aud.FORMAT_S16),
            "ogg": (aud.CONTAINER_OGG, aud.CODEC_VORBIS, aud.FORMAT_FLOAT32),
            "flac": (aud.CONTAINER_FLAC, aud.CODEC_FLAC, aud.FORMAT_S16)}


@pytest.fixture(scope="module")
def encoded(speech_wav, tmp_path_factory):
    """The test sentence as MP3, Ogg Vorbis and FLAC, encoded by Blender's own ffmpeg."""
    folder = tmp_path_factory.mktemp("formats")
    sound = aud.Sound(str(speech_wav))
    rate = int(sound.specs[0])
    paths = {}
    for ext, (container, codec, fmt) in _FORMATS.items():
        paths[ext] = folder / f"sentence.{ext}"
        sound.write(str(paths[ext]), rate, aud.CHANNELS_MONO, fmt, container, codec, 64000, 1024)
    return paths


def _samples(wav: bytes) -> np.ndarray:
    a = decode_wav(wav)
    return np.asarray(a.samples, dtype=np.float64) * a.scale


def _best_lag(a: np.ndarray, b: np.ndarray) -> tuple[int, float]:
    """(lag in samples, correlation there) at which ``b`` shifted right best matches ``a``."""
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    lag = int(np.argmax(np.correlate(a, b, "full"))) - (n - 1)
    return lag, float(np.corrcoef(a, np.roll(b, lag))[0, 1])


def _scene_with(path, start=START):
    scene = new_scene(int(FPS))
    strip = add_sound(scene, path, start)
    return scene, strip


def _blender_render_audio(scene, first: int, last: int, rate: int = 16000) -> np.ndarray:
    """What Blender itself plays over the frames: its Render Audio of the scene, mono."""
    fd, target = tempfile.mkstemp(suffix=".wav", prefix="mouthpiece-render-audio-")
    os.close(fd)
    scene.frame_start, scene.frame_end = first, last
    try:
        assert bpy.ops.sound.mixdown(filepath=target, check_existing=False, relative_path=False, container="WAV",
                                     codec="PCM", format="S16", channels="MONO", mixrate=rate) == {"FINISHED"}
        with open(target, "rb") as f:
            return _samples(f.read())
    finally:
        os.unlink(target)


def _mix(path, last: int = 0) -> np.ndarray:
    """The mixdown of frames 5..last (default: 4 frames past the strip's end) of a scene that
    plays ``path`` from frame 11."""
    scene, strip = _scene_with(path)
    return _samples(audio.range_audio(scene, FPS, 5, last or int(strip_end(strip)) + 4))


def _last_frame(path) -> int:
    return int(strip_end(_scene_with(path)[1])) + 4


@pytest.mark.parametrize("ext", ["mp3", "ogg", "flac"])
def test_compressed_strip_is_heard_where_the_wav_would_be_and_blender_plays_it(encoded, speech_wav, ext):
    last = _last_frame(speech_wav)  # an MP3's strip runs longer: the encoder pads its end
    ours, wav = _mix(encoded[ext], last), _mix(speech_wav, last)
    assert len(ours) == len(wav)
    lag, corr = _best_lag(wav, ours)
    assert lag == 0 and corr > 0.99, (lag, corr)
    # Blender's own Render Audio of the scene: the same sound at the same time (its Ogg playback
    # starts 185 samples early, a seek of its ffmpeg reader: within 12.5 ms, a third of a frame).
    scene, strip = _scene_with(encoded[ext])
    blender = _blender_render_audio(scene, 5, last)
    lag, corr = _best_lag(blender, ours)
    assert abs(lag) <= 200 and corr > 0.97, (lag, corr)


def test_flac_strip_mixes_exactly_like_the_wav_it_was_made_from(encoded, speech_wav):
    flac, wav = _mix(encoded["flac"]), _mix(speech_wav)
    assert len(flac) == len(wav)
    assert np.max(np.abs(flac - wav)) < 1e-4  # lossless, decoded at its own rate: the same samples


def test_adpcm_wav_is_decoded_by_blender(speech_wav, tmp_path):
    adpcm = tmp_path / "adpcm.wav"
    subprocess.run(["sox", str(speech_wav), "-e", "ima-adpcm", str(adpcm)], check=True)
    last = _last_frame(speech_wav)
    lag, corr = _best_lag(_mix(speech_wav, last), _mix(adpcm, last))
    assert lag == 0 and corr > 0.99, (lag, corr)


def test_packed_mp3_and_truncated_mp3(encoded, tmp_path):
    scene, strip = _scene_with(encoded["mp3"])
    last = int(strip_end(strip)) + 4
    on_disk = audio.range_audio(scene, FPS, 5, last)
    strip.sound.pack()
    assert audio.range_audio(scene, FPS, 5, last) == on_disk
    # A download cut short: audaspace's writer gives up on it, Blender's Render Audio plays what is there.
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(encoded["mp3"].read_bytes()[: encoded["mp3"].stat().st_size // 2])
    scene, strip = _scene_with(cut)
    half, full = _samples(audio.range_audio(scene, FPS, 5, last)), _samples(on_disk)
    heard = np.flatnonzero(np.abs(half) > 0.02)
    assert len(heard) and heard[-1] - heard[0] > 0.3 * 16000
    lag, corr = _best_lag(full[: heard[-1]], half[: heard[-1]])
    assert lag == 0 and corr > 0.99, (lag, corr)


def test_file_blender_cannot_read_says_what_to_do(tmp_path):
    bad = tmp_path / "line_07.mp3"
    bad.write_bytes(b"not audio at all " * 200)
    scene, strip = _scene_with(bad)
    strip.name = "line_07"
    with pytest.raises(MixdownError, match=r"line_07: Blender cannot decode its sound file .*line_07\.mp3.*"
                                           r"Convert it to a WAV file \(16-bit PCM\) and load that in the strip"):
        audio.gather(scene, FPS, 1, 100)
    assert [s.name for s in bpy.data.scenes] == [scene.name]  # the temporary scene is gone
    # A sound file that went missing is reported before any work, with what to do.
    gone = tmp_path / "gone.mp3"
    gone.write_bytes(b"")
    scene, strip = _scene_with(gone)
    gone.unlink()
    with pytest.raises(MixdownError, match=r"gone\.mp3' is missing; relink it or pack it into the \.blend"):
        audio.gather(scene, FPS, 1, 100)


# In a Blender whose numpy is unusable: `aud` does not start and `import aud` fails, as in
# Debian's package. The add-on is registered as a pipeline script does it and runs Generate.
_WITHOUT_NUMPY = r"""
import json, sys
sys.modules["numpy"] = None  # `import numpy` (and numpy's C API) now fail, before bpy starts
sys.path.insert(0, sys.argv[1])
import bpy
try:
    import aud
    print("AUD-IMPORTED")
except ImportError:
    pass
import addon
from addon.blender import audio
from tests.blender.helpers import add_sound, demo_head, fcurve, new_scene, strip_end
addon.register()
try:
    scene = new_scene(24)
    strip = add_sound(scene, sys.argv[2], 11)
    scene.frame_start, scene.frame_end = 5, int(strip_end(strip)) + 4
    with open(sys.argv[3], "wb") as f:
        f.write(audio.range_audio(scene, 24.0, 5, scene.frame_end))
    strip.sound.pack()
    packed_same = audio.range_audio(scene, 24.0, 5, scene.frame_end) == open(sys.argv[3], "rb").read()
    obj = demo_head()
    result = bpy.ops.mouthpiece.generate()
    jaw = fcurve(obj, "jawOpen")
    print("RESULT", json.dumps({"generate": sorted(result), "packed_same": packed_same,
                                "jaw_keys": len(jaw.keyframe_points) if jaw else 0}))
finally:
    addon.unregister()
"""


@pytest.mark.usefixtures("sidecar")
def test_mp3_strip_generates_in_a_blender_without_numpy(encoded, tmp_path):
    mixed = tmp_path / "mixed.wav"
    run = subprocess.run([sys.executable, "-c", _WITHOUT_NUMPY, str(ROOT), str(encoded["mp3"]), str(mixed)],
                         capture_output=True, text=True, cwd=ROOT)
    lines = [line for line in run.stdout.splitlines() if line.startswith(("RESULT", "AUD-IMPORTED"))]
    assert lines and lines[-1].startswith("RESULT"), run.stdout[-3000:] + run.stderr[-3000:]
    assert "AUD-IMPORTED" not in lines  # the case of the report: Blender's aud is unusable
    result = json.loads(lines[-1].split(" ", 1)[1])
    assert result == {"generate": ["FINISHED"], "packed_same": True, "jaw_keys": result["jaw_keys"]}
    assert result["jaw_keys"] > 2
    # Blender's Render Audio decodes the MP3 to what audaspace gives where it works (its mixer's
    # interpolation aside), at the same time.
    scene, strip = _scene_with(encoded["mp3"])
    with_aud = _samples(audio.range_audio(scene, FPS, 5, int(strip_end(strip)) + 4))
    without = _samples(mixed.read_bytes())
    assert len(with_aud) == len(without)
    lag, corr = _best_lag(with_aud, without)
    assert lag == 0 and corr > 0.995, (lag, corr)
