"""Transcript alignment (server/speech/transcript.py) and the open-vowel projection it enables
(server/diffusion/closure.py): English through pocketsphinx with espeak-ng pronunciations for
unknown words, other languages through espeak-ng's rendering time-warped onto the audio, clear
errors, cancelling. The speech is espeak-ng's, so its own phone times are the reference."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from addon.core.arkit import INDEX, NUM_CHANNELS
from server.audio import SAMPLE_RATE as SR
from server.corpus.engines import Espeak, Voice
from server.corpus.phones import correct_stop_closures, espeak_to_arpabet, to_arpabet
from server.diffusion.closure import OPEN_MIN, close_lips, closure_envelope, open_lips, opening_envelope
from server.errors import GenerationCancelled, InputError
from server.face.lip_opening import lip_opening
from server.phones import BILABIALS
from server.speech import transcript as tr
from server.speech.alignment import AlignmentError
from server.speech.transcript import espeak_phone_targets, spell_numbers, transcript_phones

ENGLISH = "Bob made a big map of the bay."


def _bilabials(phones):
    return [(p, s, e) for p, s, e in phones if p in BILABIALS]


@pytest.fixture(scope="module")
def english():
    audio, raw = Espeak.get().synth(ENGLISH, Voice("espeak", "en-us", rate=0.9))
    # espeak marks a voiceless stop at its release: the corpus moves it back over the closure.
    ref = correct_stop_closures(to_arpabet(raw, lambda n: espeak_to_arpabet(n, rhotic=True)), audio, SR)
    return audio, ref


def _assert_bilabials_match(found, ref, tolerance):
    got, want = _bilabials(found), _bilabials(ref)
    assert [p for p, _, _ in got] == [p for p, _, _ in want]
    for (p, s, e), (_, rs, re_) in zip(got, want):
        # The closure starts where the synthesiser's does, and the two overlap.
        assert abs(s - rs) <= tolerance and s < re_ and rs < e, (p, s, e, rs, re_)


def test_english_bilabials_where_the_synthesiser_put_them(english):
    audio, ref = english
    found = transcript_phones(audio, ENGLISH, "auto")
    assert found.method == "pocketsphinx" and found.language == "en" and not found.fallbacks
    assert found.words == "bob made a big map of the bay".split()
    _assert_bilabials_match(found.phones, ref, 0.030)
    assert found.phones[0][1] == 0.0 and found.phones[-1][2] == pytest.approx(len(audio) / SR)
    assert all(a[2] == b[1] for a, b in zip(found.phones, found.phones[1:]))


def test_unknown_words_and_digits_get_pronunciations():
    text = "Zorblat bumped 2 mibblers."
    audio, raw = Espeak.get().synth(text, Voice("espeak", "en-us"))
    found = transcript_phones(audio, text, "en")
    assert found.words == ["zorblat", "bumped", "two", "mibblers"]
    assert set(found.pronunciations) == {"zorblat", "mibblers"}
    assert "B" in found.pronunciations["zorblat"].split() and "M" in found.pronunciations["mibblers"].split()
    assert not found.fallbacks
    ref = correct_stop_closures(to_arpabet(raw, lambda n: espeak_to_arpabet(n, rhotic=True)), audio, SR)
    _assert_bilabials_match(found.phones, ref, 0.040)


def test_numbers_are_spelled_out():
    assert spell_numbers("1984 and 3.5%").split() == \
        "one thousand nine hundred eighty four and three point five percent".split()
    assert spell_numbers("1,200 & 40").split() == "one thousand two hundred and forty".split()


def test_long_audio_is_aligned_in_segments_cut_between_words(english, monkeypatch):
    audio, ref = english
    gap = np.zeros(int(0.4 * SR), dtype=np.float32)
    long_audio = np.concatenate([audio, gap, audio, gap, audio])
    monkeypatch.setattr(tr, "MAX_SEGMENT_S", 2.5)
    monkeypatch.setattr(tr, "MIN_SEGMENT_S", 1.0)
    segments = tr.english_segments(long_audio, tr.english_words(" ".join([ENGLISH] * 3)))
    assert len(segments) >= 3 and sum(len(w) for _, _, w in segments) == 24
    found = transcript_phones(long_audio, " ".join([ENGLISH] * 3), "en")
    assert not found.fallbacks
    step = (len(audio) + len(gap)) / SR
    three = [(p, s + k * step, e + k * step) for k in range(3) for p, s, e in ref]
    # 40 ms: a segment's first B follows a pause, where the closure's start is silent on both sides.
    _assert_bilabials_match(found.phones, three, 0.040)


def test_a_segment_that_cannot_be_aligned_keeps_the_recognisers_phones(english, monkeypatch):
    audio, _ = english

    def refuse(*args, **kwargs):
        raise AlignmentError("no path")

    monkeypatch.setattr(tr, "align_in_helper", refuse)
    found = transcript_phones(audio, ENGLISH, "en")
    assert len(found.fallbacks) == 1 and "recogniser" in found.fallbacks[0]
    assert _bilabials(found.phones)          # the recogniser still hears some p/b/m


SPANISH = "Me llamo Pablo y bebo mucha agua en el campo."


def test_spanish_bilabials_within_50_ms_of_espeaks_own_timings():
    # A different voice, speed and pitch from the rendering the aligner makes.
    audio, raw = Espeak.get().synth(SPANISH, Voice("espeak", "es+f2", rate=0.8, pitch=70))
    ref = to_arpabet(raw, espeak_phone_targets)
    found = transcript_phones(audio, SPANISH, "es")
    assert found.method == "espeak-ng time warp" and found.language == "es"
    assert len(_bilabials(ref)) >= 5
    _assert_bilabials_match(found.phones, ref, 0.050)
    assert found.phones[-1][2] == pytest.approx(len(audio) / SR)


@pytest.mark.parametrize("text", ["", "   ", "!!! ??? ...", None])
def test_empty_or_garbage_transcript_is_a_clear_error(english, text):
    with pytest.raises(InputError, match="transcript"):
        transcript_phones(english[0], text, "auto")


def test_bad_language_and_non_english_text_on_auto_are_clear_errors(english):
    with pytest.raises(InputError, match="language"):
        transcript_phones(english[0], ENGLISH, "english!")
    with pytest.raises(InputError, match="set the language"):
        transcript_phones(english[0], "Привет, как дела?", "auto")
    with pytest.raises(InputError, match="espeak-ng cannot speak"):
        transcript_phones(english[0], "hola", "qqq")
    with pytest.raises(InputError, match="silent"):
        transcript_phones(np.zeros(SR, dtype=np.float32), ENGLISH, "en")


def test_cancel_stops_alignment(english):
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(GenerationCancelled):
        transcript_phones(english[0], ENGLISH, "en", cancel=cancel)


# --- open vowels -----------------------------------------------------------------------------

PHONES = [("SIL", 0.0, 0.2), ("B", 0.2, 0.26), ("AA", 0.26, 0.45), ("M", 0.45, 0.5), ("IY", 0.5, 0.6),
          ("AE", 0.6, 0.63), ("SIL", 0.63, 1.0)]


def test_opening_envelope_covers_open_vowels_only_and_never_a_bilabials_own_frames():
    env = opening_envelope(PHONES, 30, 30.0)
    closing = closure_envelope(PHONES, 30, 30.0)
    assert env[10:13].max() == 1.0                  # AA's middle (0.31-0.40 s)
    assert env[18] == 1.0 and env[19] == 0.0        # AE shorter than a frame: its middle frame
    assert env[15:17].max() == 0.0 and env[:6].max() == 0.0 and env[22:].max() == 0.0  # IY, silence
    assert not np.any((env > 0) & (closing >= 1.0))


def test_open_lips_opens_at_least_the_minimum_least_change_and_keeps_pins():
    v = np.zeros((1, NUM_CHANNELS, 30), dtype=np.float32)
    v[0, INDEX["jawOpen"]] = 0.3
    v[0, INDEX["mouthClose"]] = 0.3                 # lips together with the jaw open
    x0 = torch.from_numpy(v * 2 - 1)
    env = torch.from_numpy(opening_envelope(PHONES, 30, 30.0)).float()
    free = torch.ones_like(x0)
    free[..., 18] = 0                               # a pinned frame
    out = open_lips(x0, env, free)
    opening = lip_opening(((out[0] + 1) / 2).T.numpy())
    on = env.numpy() > 0
    on[18] = False
    assert opening[on].min() >= OPEN_MIN - 1e-3
    assert torch.equal(out[..., ~(env > 0)], x0[..., ~(env > 0)])
    assert torch.equal(out[..., 18], x0[..., 18])
    got = (out[0] + 1) / 2
    assert torch.all(got[INDEX["mouthClose"]] <= got[INDEX["jawOpen"]] + 1e-6)
    # Opening after closing (as the engine does) leaves a bilabial's own frames closed.
    closing = torch.from_numpy(closure_envelope(PHONES, 30, 30.0)).float()
    both = open_lips(close_lips(x0, closing, torch.ones_like(x0)), env, torch.ones_like(x0))
    assert lip_opening(((both[0] + 1) / 2).T.numpy())[closing.numpy() >= 1.0].max() <= 0.05
