"""The scene's sound strips -> the WAV sent to the sidecar: placement, trimming, packed sounds,
formats only Blender reads (FLAC via audaspace), mute, and the error when nothing plays."""

import io
import shutil
import subprocess
import wave
from array import array

import bpy
import pytest

from addon.blender import audio
from addon.core.mixdown import MixdownError, decode_wav
from tests.blender.helpers import add_sound, new_scene, strip_end, trim_start


def _envelope(wav_bytes, hop_s=0.02):
    a = decode_wav(wav_bytes)
    hop = int(a.rate * hop_s)
    s = a.samples
    return [max(abs(x) for x in s[i:i + hop]) * a.scale for i in range(0, len(s) - hop, hop)]


def _onset(wav_bytes, hop_s=0.02, threshold=0.02):
    env = _envelope(wav_bytes, hop_s)
    return next(i for i, v in enumerate(env) if v > threshold) * hop_s


def test_strip_placement_sets_audio_time_zero(speech_wav):
    scene = new_scene(24)
    strip = add_sound(scene, speech_wav, 35)
    end = int(strip_end(strip))
    wav = audio.range_audio(scene, 24.0, 11, end)
    with wave.open(io.BytesIO(wav)) as w:
        assert w.getframerate() == 16000 and w.getnchannels() == 1
        assert w.getnframes() == (end - 11 + 1) * 16000 // 24
    reference = _onset(speech_wav.read_bytes())
    # The speech starts (35 - 11) frames = 1 s after audio time 0, plus its own lead-in.
    assert _onset(wav) == pytest.approx(1.0 + reference, abs=0.03)


def test_trimmed_strip_only_plays_its_visible_part(speech_wav):
    scene = new_scene(24)
    strip = add_sound(scene, speech_wav, 1)
    trim_start(strip, 24)  # the first second is cut
    wav = audio.range_audio(scene, 24.0, 1, int(strip_end(strip)))
    env = _envelope(wav)
    assert max(env[: int(0.95 / 0.02)]) < 1e-3 and max(env) > 0.05


def test_packed_sound_and_flac_via_blender(speech_wav, tmp_path):
    scene = new_scene(24)
    strip = add_sound(scene, speech_wav, 1)
    end = int(strip_end(strip))
    on_disk = audio.range_audio(scene, 24.0, 1, end)
    strip.sound.pack()
    assert strip.sound.packed_file is not None
    assert audio.range_audio(scene, 24.0, 1, end) == on_disk
    if shutil.which("sox") is None:
        pytest.skip("sox is needed to make the FLAC")
    flac = tmp_path / "speech.flac"
    subprocess.run(["sox", str(speech_wav), str(flac)], check=True)
    scene2 = new_scene(24)
    add_sound(scene2, flac, 1)
    from_flac = decode_wav(audio.range_audio(scene2, 24.0, 1, end))
    from_wav = decode_wav(on_disk)
    a = array("f", (x * from_flac.scale for x in from_flac.samples))
    b = array("f", (x * from_wav.scale for x in from_wav.samples))
    assert len(a) == len(b)
    assert max(abs(x - y) for x, y in zip(a, b)) < 0.02  # same audio through another decoder


def test_muted_strip_and_no_audio_are_clear_errors(speech_wav):
    scene = new_scene(24)
    strip = add_sound(scene, speech_wav, 100, name="line_01")
    with pytest.raises(MixdownError, match="No sound plays between frames 1 and 50"):
        audio.range_audio(scene, 24.0, 1, 50)
    strip.mute = True
    with pytest.raises(MixdownError, match="muted or at zero volume: line_01"):
        audio.range_audio(scene, 24.0, 100, 140)
    with pytest.raises(MixdownError, match="no sound strip named 'nope'"):
        audio.range_audio(scene, 24.0, 100, 140, only="nope")
    assert bpy.data.sounds  # nothing was removed
