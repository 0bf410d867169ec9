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

pocketsphinx holds Python's GIL for a whole decode (measured: the main thread stalled 6.4 s
while a 19 s segment decoded in a worker thread), which would freeze the sidecar's HTTP loop:
no progress, no cancel, keep-alive connections reset. So segments are decoded in one helper
process (server/speech/helper.py, started on first use and kept), and this process only waits
for it. Feeding pocketsphinx
small chunks instead would release the GIL but changes the words (its cepstral mean is then
estimated live from the first chunks), far for the worse on short clips.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from server.speech.alignment import _ARPABET, _FILLER_TO_PHONE, _FRAME_S, SAMPLE_RATE, _contiguous, _pcm16, reset_decoder

MAX_SEGMENT_S = 20.0
MIN_SEGMENT_S = 0.3          # shorter stretches (a breath, a click) are not decoded
_ENERGY_WINDOW_S = 0.2       # smoothing of the energy used to pick cut points

_RECOGNISER = None
_RECOGNISER_LOCK = threading.Lock()
_HELPER: subprocess.Popen | None = None   # the process that decodes (see the module's docstring)
_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Recognition:
    words: list[str]                            # the recognised words, in order
    phones: list[tuple[str, float, float]]      # contiguous (phone, start_s, end_s), ARPAbet + SIL


def _recogniser():
    """pocketsphinx's default English decoder (acoustic model, language model, dictionary)."""
    global _RECOGNISER
    if _RECOGNISER is None:
        from pocketsphinx import Decoder

        # No dither: the same audio must give the same phones every time (reproducible takes).
        decoder = Decoder(samprate=SAMPLE_RATE, loglevel="FATAL", dither=False)
        _RECOGNISER = (decoder, decoder.get_cmn())
    return reset_decoder(*_RECOGNISER)


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
        phone = name if name in _ARPABET else _FILLER_TO_PHONE.get(name, "SIL")
        if phone != "SIL":
            spans.append((phone, round(start * _FRAME_S, 3), round((start + frames) * _FRAME_S, 3)))
    return words, spans


def _start_helper() -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(_ROOT), os.environ.get("PYTHONPATH")])))
    return subprocess.Popen([sys.executable, "-m", "server.speech.helper"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, cwd=_ROOT, env=env)


def _stop_helper() -> None:
    global _HELPER
    if _HELPER is not None:
        _HELPER.stdin.close()                # end of input ends it
        try:
            _HELPER.wait(timeout=5)
        except subprocess.TimeoutExpired:
            _HELPER.kill()
        _HELPER = None


atexit.register(_stop_helper)


def _decode_in_helper(samples: np.ndarray):
    """recognise_segment in the helper process; in this one if the helper cannot run."""
    from server.speech.helper import read_message, write_message

    global _HELPER
    for _attempt in range(2):                # a helper that died (killed, out of memory) is restarted once
        try:
            if _HELPER is None or _HELPER.poll() is not None:
                _HELPER = _start_helper()
            write_message(_HELPER.stdin, np.ascontiguousarray(samples, dtype=np.float32))
            answer = read_message(_HELPER.stdout)
        except (OSError, ValueError):
            answer = None
        if answer is not None:
            status, value = answer
            if status == "ok":
                return value
            raise RuntimeError(f"speech recognition failed: {value}")
        _stop_helper()
    return recognise_segment(samples)


def recognise(samples: np.ndarray, *, progress=None, cancel: threading.Event | None = None) -> Recognition:
    """Words and timed phones of 16 kHz mono ``samples``; SIL where nothing was recognised.

    ``progress(fraction)`` is called after each segment; ``cancel`` is checked between segments
    (raising server.errors.GenerationCancelled).
    """
    from server.errors import GenerationCancelled

    samples = np.asarray(samples, dtype=np.float32)
    duration = len(samples) / SAMPLE_RATE
    words: list[str] = []
    spans: list[tuple[str, float, float]] = []
    bounds = segment_bounds(samples)
    with _RECOGNISER_LOCK:  # pocketsphinx decoders are not thread-safe
        for k, (a, b) in enumerate(bounds):
            if cancel is not None and cancel.is_set():
                raise GenerationCancelled("generation cancelled")
            piece = samples[a:b]
            if (b - a) / SAMPLE_RATE >= MIN_SEGMENT_S and np.max(np.abs(piece)) > 0:
                found, phones = _decode_in_helper(piece)
                words += found
                offset = a / SAMPLE_RATE
                spans += [(p, s + offset, e + offset) for p, s, e in phones]
            if progress is not None:
                progress((k + 1) / len(bounds))
    return Recognition(words, _contiguous(spans, duration))
