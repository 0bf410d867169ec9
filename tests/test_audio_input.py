"""Audio front end: formats, rates, channels, and every edge case has a defined outcome."""

import io

import numpy as np
import pytest
import soundfile as sf

from server.audio import SAMPLE_RATE, load_audio
from server.errors import InputError
from server.features import LogMelEncoder
from tests.sidecar_process import encode_audio


def _speechlike(seconds=1.5, rate=16000, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    env = (np.sin(2 * np.pi * 3 * t) > 0).astype(np.float32)  # syllable-like bursts
    return (0.3 * env * (np.sin(2 * np.pi * 180 * t) + 0.3 * rng.standard_normal(len(t)))).astype(np.float32)


def _encode(x, rate, fmt="WAV", subtype=None):
    buf = io.BytesIO()
    sf.write(buf, x, rate, format=fmt, subtype=subtype)
    return buf.getvalue()


@pytest.mark.parametrize("fmt,subtype", [("WAV", "PCM_16"), ("WAV", "FLOAT"), ("FLAC", None), ("OGG", "VORBIS")])
def test_formats_decode_to_16k_mono(fmt, subtype):
    a = load_audio(_encode(_speechlike(rate=22050), 22050, fmt, subtype))
    assert a.sample_rate == SAMPLE_RATE and a.samples.ndim == 1
    assert abs(a.duration - 1.5) < 0.02 and not a.silent


@pytest.mark.parametrize("rate", [8000, 11025, 16000, 22050, 44100, 48000])
def test_any_rate_from_8_to_48k(rate):
    a = load_audio(_encode(_speechlike(rate=rate), rate))
    assert abs(a.duration - 1.5) < 0.01 and a.source_rate == rate


def test_stereo_is_mixed_down(tmp_path):
    x = _speechlike()
    p = tmp_path / "st.wav"
    sf.write(p, np.stack([x, np.zeros_like(x)], axis=1), 16000)
    a = load_audio(str(p))
    assert a.source_channels == 2 and not a.silent


def test_level_is_normalised():
    x = _speechlike()
    quiet, loud = load_audio(_encode(x * 0.05, 16000)), load_audio(_encode(x, 16000))
    assert np.sqrt(np.mean(quiet.samples**2)) == pytest.approx(np.sqrt(np.mean(loud.samples**2)), rel=0.05)


def test_silence_stays_silent_and_gives_features():
    a = load_audio(_encode(np.zeros(16000, np.float32), 16000))
    assert a.silent and not np.any(a.samples)
    f = LogMelEncoder().features(a.samples)
    assert np.all(np.isfinite(f.numpy()))


def test_clipped_input_is_used_and_reported():
    a = load_audio(_encode(np.clip(_speechlike() * 20, -1, 1), 16000))
    assert a.clipped_fraction > 0.1 and not a.silent and np.all(np.abs(a.samples) <= 1)


@pytest.mark.parametrize("data,message", [
    (b"", "empty"),
    (b"RIFF....WAVEfmt garbage", "cannot decode"),
    (b"\x00" * 1000, "cannot decode"),
])
def test_corrupt_or_empty_bytes(data, message):
    with pytest.raises(InputError, match=message):
        load_audio(data)


def test_empty_wav_has_no_samples():
    with pytest.raises(InputError, match="no samples"):
        load_audio(_encode(np.zeros(0, np.float32), 16000))


def test_very_short_input_is_refused_with_the_minimum():
    with pytest.raises(InputError, match="at least 0.2 s"):
        load_audio(_encode(_speechlike(0.1), 16000))


def test_rate_outside_range():
    with pytest.raises(InputError, match="8000-48000"):
        load_audio(_encode(_speechlike(rate=96000), 96000))


def test_too_long_input_names_the_limit():
    with pytest.raises(InputError, match="limit is 1 minutes"):
        load_audio(_encode(np.zeros(16000 * 61, np.float32), 16000), max_duration_s=60)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_audio(str(tmp_path / "nope.wav"))


def test_nan_samples_are_refused():
    x = _speechlike()
    x[100] = np.nan
    with pytest.raises(InputError, match="NaN"):
        load_audio(_encode(x, 16000, "WAV", "FLOAT"))


def test_logmel_features_run_at_100_per_second():
    a = load_audio(_encode(_speechlike(2.0), 16000))
    f = LogMelEncoder().features(a.samples)
    assert f.shape[0] == 80 and abs(f.shape[1] - 201) <= 1


# --- what decoding may cost is bounded before decoding (issue 11) --------------------------------


def test_many_channels_are_refused_from_the_header():
    ogg = encode_audio(np.zeros((48000 * 120, 64), np.float32), 48000, "OGG", "VORBIS")
    with pytest.raises(InputError, match="64 channels; at most 8"):
        load_audio(ogg, max_duration_s=600)


def test_a_high_rate_is_refused_from_the_header():
    flac = encode_audio(np.zeros((96000 * 120, 2), np.float32), 96000, "FLAC")
    with pytest.raises(InputError, match="96000 Hz is outside"):
        load_audio(flac, max_duration_s=600)


def test_frames_times_channels_are_bounded():
    # 8 channels x 40 s at 48 kHz are more samples than 60 s of stereo at 48 kHz: refused, though
    # shorter than the 60 s limit; stereo of the same length passes.
    eight = encode_audio(np.zeros((48000 * 40, 8), np.float32), 48000, "FLAC")
    with pytest.raises(InputError, match="8 channels x 1920000 frames.*mix it down"):
        load_audio(eight, max_duration_s=60)
    stereo = load_audio(encode_audio(np.zeros((48000 * 40, 2), np.float32), 48000, "FLAC"), max_duration_s=60)
    assert stereo.source_channels == 2 and stereo.duration == pytest.approx(40.0)


@pytest.mark.parametrize("peak", [1e19, 3e38])
def test_float_audio_past_full_scale_is_finite_and_normalised(peak):
    x = _speechlike()
    # Near float32's largest value, two channels would add up past it.
    channels = np.stack([x, x], axis=1) if peak > 1e30 else x
    loud = load_audio(_encode((channels / np.abs(x).max() * peak).astype(np.float32), 16000, "WAV", "FLOAT"))
    assert np.all(np.isfinite(loud.samples)) and np.abs(loud.samples).max() <= 1.0 and not loud.silent
    normal = load_audio(_encode(x, 16000, "WAV", "FLOAT"))
    np.testing.assert_allclose(loud.samples, normal.samples, atol=1e-4)


def test_a_file_that_does_not_say_its_length_is_refused_clearly():
    flac = bytearray(encode_audio(_speechlike(2.0), 16000, "FLAC"))
    streaminfo = 8  # after "fLaC" and the block header; total samples are its bits 108-143
    packed = int.from_bytes(flac[streaminfo + 10:streaminfo + 18], "big") & ~((1 << 36) - 1)  # 0: unknown
    flac[streaminfo + 10:streaminfo + 18] = packed.to_bytes(8, "big")
    with pytest.raises(InputError, match="does not say how long it is"):
        load_audio(bytes(flac))
