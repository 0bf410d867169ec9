"""Timed phones of speech without a transcript: word recognition, then forced alignment.

This is how the engine finds where the lips must close (server/diffusion/closure.py). The
diffusion model hears p, b and m in real speech but, trained on synthetic voices only, often
leaves the lips a little open on the short ones (docs/RESULTS.md). pocketsphinx's wheel ships
an English acoustic model, a language model and the CMU dictionary; decoding WORDS with the
language model recovers bilabials far more reliably than decoding phones alone (a "bye" is
still a word with a b in it when the b itself is barely audible), which is also how Rhubarb
Lip Sync works from audio alone. A second, phone-level pass inside the recognised words'
segmentation (pocketsphinx's own alignment of its hypothesis, with the pronunciation variants
it chose) gives the phone times. Re-aligning the hypothesis as text instead fails outright on
a third of short emotional clips (the search loses the path). Nothing here needs the words to
be right: a misrecognised word still marks its bilabials roughly where the speaker's lips met.

Long audio is decoded in segments of at most MAX_SEGMENT_S, cut at the quietest moment of
each segment's second half, so memory stays flat and a bad stretch stays local.

pocketsphinx holds Python's GIL for a whole decode, which would freeze the sidecar's HTTP loop,
so segments are decoded in helper processes (server/speech/pool.py: up to one per core, started
on first use and kept), in parallel: a 60 s clip's three or four segments decode at once. The
decoder is reset before every segment, so each segment's words depend on its audio alone and
the parallel decode gives exactly the sequential one's words and phones. Feeding pocketsphinx
small chunks instead would release the GIL but changes the words (its cepstral mean is then
estimated live from the first chunks), far for the worse on short clips.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from server.audio import SAMPLE_RATE
from server.phones import ARPABET, SILENCE
from server.speech.alignment import _FILLER_TO_PHONE, _FRAME_S, _contiguous, _pcm16, reset_decoder
from server.speech.pool import POOL

MAX_SEGMENT_S = 20.0
MIN_SEGMENT_S = 0.3          # shorter stretches (a breath, a click) are not decoded
_ENERGY_WINDOW_S = 0.2       # smoothing of the energy used to pick cut points

# pocketsphinx search settings of the word recogniser: its first (tree-lexicon) pass only,
# without the flat-lexicon and best-path passes that rescore it. On the development speech that
# finds 24 of the 26 aligned p/b/m (within 34 ms) instead of 23, with as few false ones (6 of
# 29), for 8% less CPU. Narrower beams save more CPU (beam = pbeam = 1e-40, wbeam = 1e-24:
# 40%) with the same figures on that real speech, but lose p/b/m on synthetic speech
# (tests/test_lip_closure.py, tests/test_transcript.py). (docs/RESULTS.md, issue 14)
DECODER_OPTIONS: dict = {"fwdflat": False, "bestpath": False}
_RECOGNISER = None


@dataclass
class Recognition:
    words: list[str]                            # the recognised words, in order
    phones: list[tuple[str, float, float]]      # contiguous (phone, start_s, end_s), ARPAbet + SIL


def load_recogniser():
    """pocketsphinx's default English decoder (acoustic model, language model, dictionary), loaded once."""
    global _RECOGNISER
    if _RECOGNISER is None:
        from pocketsphinx import Decoder

        # No dither: the same audio must give the same phones every time (reproducible takes).
        decoder = Decoder(samprate=SAMPLE_RATE, loglevel="FATAL", dither=False, **DECODER_OPTIONS)
        _RECOGNISER = (decoder, decoder.get_cmn())
    return _RECOGNISER


def _recogniser():
    """The decoder as freshly loaded (reset before every segment: results depend on the audio alone)."""
    return reset_decoder(*load_recogniser())


def segment_bounds(samples: np.ndarray, max_seconds: float = MAX_SEGMENT_S) -> list[tuple[int, int]]:
    """Sample ranges [a, b) covering ``samples``, each at most ``max_seconds`` long, cut where quiet."""
    n = len(samples)
    limit = int(max_seconds * SAMPLE_RATE)
    if n <= limit:
        return [(0, n)]
    hop = SAMPLE_RATE // 100
    frames = np.asarray(samples[: n - n % hop], dtype=np.float64).reshape(-1, hop)
    energy = np.convolve((frames ** 2).mean(axis=1), np.ones(int(_ENERGY_WINDOW_S * 100)), mode="same")
    bounds, start = [], 0
    while n - start > limit:
        lo, hi = (start + limit // 2) // hop, (start + limit) // hop
        cut = (lo + int(np.argmin(energy[lo:hi]))) * hop
        bounds.append((start, cut))
        start = cut
    bounds.append((start, n))
    return bounds


def _decode(decoder, pcm: bytes) -> None:
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()


def recognise_segment(samples: np.ndarray) -> tuple[list[str], list[tuple[str, float, float]]]:
    """Words and phone spans (times from the segment's start; no SIL) of one stretch of audio."""
    decoder = _recogniser()
    pcm = _pcm16(samples)
    _decode(decoder, pcm)
    hypothesis = decoder.hyp()
    words = hypothesis.hypstr.split() if hypothesis is not None and hypothesis.hypstr else []
    if not words:
        return [], []
    try:
        decoder.set_alignment()          # the phone pass inside the hypothesis just decoded
        _decode(decoder, pcm)
        alignment = decoder.get_alignment()
        entries = [] if alignment is None else [(e.name.upper(), e.start, e.duration) for e in alignment.phones()]
    except RuntimeError:
        entries = []                     # no phone path: the words place no closures
    finally:
        decoder.activate_search()        # back to the language model for the next segment
    spans = []
    for name, start, frames in entries:
        phone = name if name in ARPABET else _FILLER_TO_PHONE.get(name, SILENCE)
        if phone != SILENCE:
            spans.append((phone, round(start * _FRAME_S, 3), round((start + frames) * _FRAME_S, 3)))
    return words, spans


def recognise(samples: np.ndarray, *, progress=None, cancel: threading.Event | None = None) -> Recognition:
    """Words and timed phones of 16 kHz mono ``samples``; SIL where nothing was recognised.

    ``progress(fraction)`` is called after each segment; ``cancel`` is checked while segments
    decode (raising server.errors.GenerationCancelled).
    """
    samples = np.asarray(samples, dtype=np.float32)
    duration = len(samples) / SAMPLE_RATE
    bounds = segment_bounds(samples)
    decoded = [(a, b) for a, b in bounds
               if (b - a) / SAMPLE_RATE >= MIN_SEGMENT_S and np.max(np.abs(samples[a:b])) > 0]
    finished = len(bounds) - len(decoded)       # skipped stretches count as done at once

    def done():
        nonlocal finished
        finished += 1
        if progress is not None:
            progress(finished / len(bounds))

    answers = POOL.map([("recognise", np.ascontiguousarray(samples[a:b])) for a, b in decoded], recognise_segment,
                       cancel=cancel, done=done)
    words: list[str] = []
    spans: list[tuple[str, float, float]] = []
    for (a, _b), (found, phones) in zip(decoded, answers):
        words += found
        offset = a / SAMPLE_RATE
        spans += [(p, s + offset, e + offset) for p, s, e in phones]
    if progress is not None and not decoded:
        progress(1.0)
    return Recognition(words, _contiguous(spans, duration))
