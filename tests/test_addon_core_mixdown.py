"""Audio mixdown: sound strips over a frame range -> one mono 16-bit WAV, stdlib only."""

import io
import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from addon.core.mixdown import MixdownError, StripSound, decode_wav, mixdown, readable_wav

FPS = 24.0


def _wav(samples: np.ndarray, rate: int, subtype: str = "PCM_16", fmt: str = "WAV") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, rate, subtype=subtype, format=fmt)
    return buf.getvalue()


def _read(wav: bytes):
    data, rate = sf.read(io.BytesIO(wav), dtype="float64")
    return data, rate


def _tone(seconds, rate=16000, freq=220.0, amp=0.5):
    t = np.arange(int(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float64)


def _strip(samples, rate=16000, start=1, trim_start=0, trim_end=0, **kw):
    audio = decode_wav(_wav(samples, rate), "tone")
    length = len(samples) / rate * FPS
    return StripSound(name=kw.pop("name", "tone"), audio=audio, frame_start=start,
                      frame_final_start=start + trim_start, frame_final_end=start + length - trim_end, **kw)


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"])
def test_decode_wav_matches_libsndfile(subtype):
    stereo = np.stack([_tone(0.1), _tone(0.1, freq=330.0, amp=0.3)], axis=1)
    data = _wav(stereo, 16000, subtype)
    audio = decode_wav(data)
    ours = np.array(audio.samples, dtype=np.float64) * audio.scale
    ref, _ = _read(data)
    assert audio.rate == 16000 and len(ours) == len(ref)
    step = 1 / 128 if subtype == "PCM_U8" else 1e-4
    assert np.max(np.abs(ours - ref.mean(axis=1))) < step


def test_decode_wav_extensible_header():
    data = _wav(np.stack([_tone(0.05, 22050)] * 3, axis=1), 22050, "PCM_24", fmt="WAVEX")
    assert data[20:22] == b"\xfe\xff"
    audio = decode_wav(data)
    assert audio.rate == 22050
    assert np.allclose(np.array(audio.samples) * audio.scale, _tone(0.05, 22050), atol=1e-5)


def test_not_a_wav_is_a_clear_error():
    flac = _wav(_tone(0.05), 16000, "PCM_16", fmt="FLAC")
    with pytest.raises(MixdownError, match="voice.flac: not a WAV"):
        decode_wav(flac, "voice.flac")


def test_readable_wav_tells_from_the_head_what_decode_wav_reads():
    """The Blender layer reads only a file's first bytes to pick the decoder: the core for these,
    Blender's own for the rest (FLAC, Ogg, ADPCM/mu-law WAV...)."""
    tone = np.stack([_tone(0.2), _tone(0.2)], axis=1)
    for subtype in ("PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"):
        for fmt in ("WAV", "WAVEX"):
            data = _wav(tone, 16000, subtype, fmt=fmt)
            assert readable_wav(data[:64]), (subtype, fmt)
            decode_wav(data)
    for subtype, fmt in (("IMA_ADPCM", "WAV"), ("ULAW", "WAV"), ("ALAW", "WAV"), ("PCM_16", "FLAC"),
                         ("VORBIS", "OGG")):
        data = _wav(tone, 16000, subtype, fmt=fmt)
        assert not readable_wav(data), (subtype, fmt)
        with pytest.raises(MixdownError):
            decode_wav(data)
    assert not readable_wav(b"RIFF\x00\x00\x00\x00WAVE")  # no fmt chunk in the head


def test_strip_start_and_range_start_line_up():
    # One second of tone placed at frame 49; range starts at frame 25 -> tone begins 1 s in.
    wav = mixdown([_strip(_tone(1.0), start=49)], range_start=25, range_end=120, fps=FPS)
    out, rate = _read(wav)
    assert rate == 16000 and len(out) == 96 * 16000 // 24
    loud = np.flatnonzero(np.abs(out) > 0.05)
    assert abs(loud[0] / rate - 1.0) < 0.002 and abs(loud[-1] / rate - 2.0) < 0.002
    assert np.max(np.abs(out)) == pytest.approx(0.5, abs=0.01)


def test_trimmed_strip_is_heard_only_in_its_visible_part():
    samples = np.concatenate([_tone(1.0, freq=200), _tone(1.0, freq=600)])
    strip = _strip(samples, start=1, trim_start=24)  # first second trimmed away
    out, rate = _read(mixdown([strip], range_start=1, range_end=48, fps=FPS))
    assert np.max(np.abs(out[: rate - 40])) < 1e-3
    heard = out[rate + 100: 2 * rate - 100]
    spectrum = np.abs(np.fft.rfft(heard))
    assert np.argmax(spectrum) * rate / len(heard) == pytest.approx(600, abs=5)


def test_volume_mute_and_sum_of_strips():
    a = _strip(_tone(1.0, freq=200, amp=0.2), start=1, name="a", volume=2.0)
    b = _strip(_tone(1.0, freq=200, amp=0.2), start=1, name="b", volume=0.5)
    muted = _strip(_tone(1.0, freq=200, amp=0.9), start=1, name="m", mute=True)
    out, _ = _read(mixdown([a, b, muted], 1, 24, FPS))
    assert np.max(np.abs(out)) == pytest.approx(0.2 * 2.5, abs=0.01)


def test_downsampling_keeps_speech_band_content():
    tone = _tone(0.5, rate=48000, freq=1000)
    out, rate = _read(mixdown([_strip(tone, rate=48000)], 1, 12, FPS))
    spectrum = np.abs(np.fft.rfft(out))
    assert np.argmax(spectrum) * rate / len(out) == pytest.approx(1000, abs=5)
    assert np.max(np.abs(out)) == pytest.approx(0.5, abs=0.02)


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_real_speech_survives_the_mixdown(tmp_path):
    path = tmp_path / "speech.wav"
    subprocess.run(["espeak-ng", "-w", str(path), "Mouthpiece moves the lips."], check=True)
    data = path.read_bytes()
    ref, ref_rate = _read(data)
    strip = StripSound("speech", decode_wav(data), 11, 11, 11 + len(ref) / ref_rate * FPS)
    out, rate = _read(mixdown([strip], 1, 11 + int(len(ref) / ref_rate * FPS), FPS))
    lead = int(10 / FPS * rate)
    # The speech envelope (20 ms RMS) matches the original's after the 10-frame lead.
    def env(x, r):
        hop = int(0.02 * r)
        return np.array([np.sqrt(np.mean(x[i:i + hop] ** 2)) for i in range(0, len(x) - hop, hop)])
    ours, theirs = env(out[lead:], rate), env(ref, ref_rate)
    n = min(len(ours), len(theirs))
    assert np.corrcoef(ours[:n], theirs[:n])[0, 1] > 0.98
    assert np.max(np.abs(out[:lead - 10])) < 1e-3


def test_no_audio_in_range_says_what_to_do():
    strip = _strip(_tone(1.0), start=200)
    with pytest.raises(MixdownError, match=r"No sound plays between frames 1 and 100\..*Video Sequencer"):
        mixdown([strip], 1, 100, FPS)
    with pytest.raises(MixdownError, match=r"muted or at zero volume: quiet"):
        mixdown([_strip(_tone(1.0), name="quiet", mute=True)], 1, 24, FPS)
    with pytest.raises(MixdownError, match="No sound plays"):
        mixdown([], 1, 24, FPS)


def test_silent_audio_is_refused():
    with pytest.raises(MixdownError, match="silent"):
        mixdown([_strip(np.zeros(16000))], 1, 24, FPS)
