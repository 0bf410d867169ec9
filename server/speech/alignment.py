"""Forced alignment of a transcript to ARPAbet phones with times, with pocketsphinx.

pocketsphinx's wheel ships a US-English acoustic model and the CMU dictionary, so alignment
needs no download. Two passes, as pocketsphinx intends: a word-level alignment that inserts
optional silences between words, then a phone-level pass inside it. Times are pocketsphinx
frame indices / 100 (its 10 ms frame rate), as pocketsphinx's own TextGrid export does.

The result follows the phone contract of docs/ARCHITECTURE.md: ``(phone, start_s, end_s)``
spans, contiguous, sorted, covering [0, duration], stress-free ARPAbet plus ``SIL``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from server.audio import SAMPLE_RATE
from server.phones import ARPABET

_FRAME_S = 0.01        # pocketsphinx's default frame rate is 100 per second
# pocketsphinx's filler phones: silence, and noises that are not speech sounds.
_FILLER_TO_PHONE = {"SIL": "SIL", "+BREATH+": "BR", "+NSN+": "SIL", "+SPN+": "SIL", "+NOISE+": "SIL"}


class AlignmentError(ValueError):
    """The transcript cannot be aligned (unknown words, numbers, empty text, or no match)."""


@dataclass
class Alignment:
    phones: list[tuple[str, float, float]]
    words: list[tuple[str, float, float]]
    transcript: str                     # the words that were aligned, normalised
    score: float                        # sum of the phones' acoustic log scores (higher is better)
    alternatives_tried: list[str] = field(default_factory=list)


def normalise_transcript(text: str) -> list[str]:
    """Lower-case words of a transcript; punctuation dropped, apostrophes inside words kept."""
    if re.search(r"\d", text):
        raise AlignmentError(f"the transcript has digits ({text!r}): spell numbers out as words")
    words = [w.strip("'") for w in re.sub(r"[^a-z' ]+", " ", text.lower().replace("-", " ")).split()]
    words = [w for w in words if w]
    if not words:
        raise AlignmentError("the transcript is empty: give the words spoken in the audio")
    return words


_WIDE_BEAMS = {"beam": 1e-64, "wbeam": 1e-44, "pbeam": 1e-64}


# Loading the acoustic model and dictionary takes about half a second: keep decoders.
_DECODERS: dict[tuple, object] = {}
# pocketsphinx's features break down on digital silence (exact zeros: the log of zero energy
# upsets its cepstral mean normalisation), and the search then loses the transcript's path and
# stops after a few words. A fixed, seeded noise floor at -60 dBFS and pocketsphinx's own dither
# make synthetic and gated audio align like real recordings, and are far below any speech.
NOISE_FLOOR = 1e-3


def _decoder(extra_words: dict[str, str] | None, beams: dict[str, float], dither: bool = True):
    from pocketsphinx import Decoder

    key = (tuple(sorted((extra_words or {}).items())), tuple(sorted(beams.items())), dither)
    if key not in _DECODERS:
        decoder = Decoder(samprate=SAMPLE_RATE, loglevel="FATAL", dither=dither, **beams)
        for word, phones in (extra_words or {}).items():
            decoder.add_word(word.lower(), phones.upper(), True)
        _DECODERS[key] = (decoder, decoder.get_cmn())
    return reset_decoder(*_DECODERS[key])


def reset_decoder(decoder, initial_cmn: str):
    """The decoder as freshly loaded: pocketsphinx carries its cepstral mean and front-end state
    from one utterance to the next, so without this a clip decodes differently after another
    one. Resetting costs nothing; reloading the model costs about half a second."""
    decoder.reinit_feat()
    decoder.set_cmn(initial_cmn)
    return decoder


def _pcm16(samples: np.ndarray) -> bytes:
    samples = np.asarray(samples, dtype=np.float64)
    peak = float(np.max(np.abs(samples))) if len(samples) else 0.0
    if peak == 0.0:
        raise AlignmentError("the audio is silent; there is nothing to align")
    floor = NOISE_FLOOR * np.random.default_rng(0).standard_normal(len(samples))
    return (np.clip(samples + floor, -1.0, 1.0) * 32767).astype("<i2").tobytes()


def _contiguous(spans: list[tuple[str, float, float]], duration: float) -> list[tuple[str, float, float]]:
    """Fill gaps with SIL, end at ``duration``, merge neighbouring SILs."""
    out: list[tuple[str, float, float]] = []
    cursor = 0.0
    for phone, start, end in spans:
        start, end = max(start, cursor), min(end, duration)
        if end <= start:
            continue
        if start > cursor + 1e-6:
            out.append(("SIL", cursor, start))
        out.append((phone, start, end))
        cursor = end
    if cursor < duration - 1e-6:
        out.append(("SIL", cursor, duration))
    merged: list[tuple[str, float, float]] = []
    for span in out:
        if merged and span[0] == "SIL" and merged[-1][0] == "SIL":
            merged[-1] = ("SIL", merged[-1][1], span[2])
        else:
            merged.append(span)
    return merged


def align(samples: np.ndarray, transcript: str, *, extra_words: dict[str, str] | None = None,
          dither: bool = True) -> Alignment:
    """Align ``transcript`` to 16 kHz mono ``samples``; phones and words with times in seconds.

    ``transcript`` may hold alternatives separated by ``||`` (for a file known to say one of a
    few sentences); the alternative with the best acoustic score wins. ``extra_words`` adds
    pronunciations (word -> "ARPABET PHONES") for words the CMU dictionary lacks.
    ``dither=False`` makes the result depend on the audio alone: pocketsphinx's dither draws
    from one random stream per decoder, so with it the same clip aligns slightly differently
    on a second call (the engine needs repeatable takes; the evaluation aligns each file once).
    """
    alternatives = [a.strip() for a in transcript.split("||") if a.strip()]
    if not alternatives:
        raise AlignmentError("the transcript is empty: give the words spoken in the audio")
    results, failures = [], []
    for text in alternatives:
        try:
            results.append(_align_one(samples, text, extra_words, dither))
        except AlignmentError as error:
            failures.append(error)
    if not results:
        raise failures[0]
    best = max(results, key=lambda r: r.score)
    best.alternatives_tried = [r.transcript for r in results]
    return best


def _align_one(samples: np.ndarray, text: str, extra_words: dict[str, str] | None, dither: bool) -> Alignment:
    words = normalise_transcript(text)
    unknown = [w for w in words if _decoder(extra_words, {}, dither).lookup_word(w) is None]
    if unknown:
        raise AlignmentError(
            f"words not in pocketsphinx's English dictionary: {', '.join(sorted(set(unknown)))}; "
            "respell them as dictionary words or give their pronunciations (extra_words)")
    audio = _pcm16(samples)
    duration = len(samples) / SAMPLE_RATE
    # The default beams prune the only path through the grammar now and then ("final result
    # does not match the grammar"); a second try with wide beams costs a little more time.
    for beams in ({}, _WIDE_BEAMS):
        found = _run_alignment(_decoder(extra_words, beams, dither), words, audio)
        if found is not None:
            break
    else:
        raise AlignmentError(f"pocketsphinx found no alignment of {' '.join(words)!r} in the audio; "
                             "is the transcript what is said?")
    word_segments, phone_entries = found
    spans, score = [], 0.0
    for name, start_frame, frames, phone_score in phone_entries:
        score += phone_score
        phone = name if name in ARPABET else _FILLER_TO_PHONE.get(name, "SIL")
        spans.append((phone, round(start_frame * _FRAME_S, 3), round((start_frame + frames) * _FRAME_S, 3)))
    words_out = [(w, s, min(e, duration)) for w, s, e in word_segments if not _is_filler(w)]
    return Alignment(_contiguous(spans, duration), words_out, " ".join(words), score)


def _is_filler(word: str) -> bool:
    """pocketsphinx's silence, sentence-boundary and noise words (<sil>, </s>, [NOISE], +breath+)."""
    return word.startswith(("<", "[", "+"))


def _decode(decoder, audio: bytes) -> None:
    decoder.start_utt()
    decoder.process_raw(audio, full_utt=True)
    decoder.end_utt()


def _run_alignment(decoder, words: list[str], audio: bytes):
    """Word pass then phone pass; None when the search loses the grammar's only path."""
    try:
        decoder.set_align_text(" ".join(words))
        _decode(decoder, audio)
        segments = decoder.seg()
        if segments is None:
            return None
        word_segments = [(re.sub(r"\(\d+\)$", "", s.word), round(s.start_frame * _FRAME_S, 3),
                          round((s.end_frame + 1) * _FRAME_S, 3)) for s in segments]
        if [w for w, _, _ in word_segments if not _is_filler(w)] != words:
            return None         # the search lost the path and kept a partial one
        decoder.set_alignment()
        _decode(decoder, audio)
        result = decoder.get_alignment()
        if result is None:
            return None
        # Copy out now: the entries belong to the decoder. (Never call decoder.hyp() after
        # the phone pass: pocketsphinx 5.1 crashes on it.)
        phones = [(e.name.upper(), e.start, e.duration, float(e.score)) for e in result.phones()]
    except RuntimeError:
        return None
    return (word_segments, phones) if phones else None
