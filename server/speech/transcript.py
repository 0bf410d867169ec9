"""Timed phones from a transcript: what is said, aligned to the audio.

``transcript_phones(samples, text, language)`` returns words and contiguous ``(phone, start_s,
end_s)`` spans (stress-free ARPAbet plus SIL, covering the audio) that the engine uses instead of
the recogniser to place lip closures and open vowels (server/diffusion/closure.py).

English (``language`` "en", or "auto" with text that looks English: ASCII words most of which
pocketsphinx's CMU dictionary knows) is force-aligned with pocketsphinx's shipped US-English
model (server/speech/alignment.py), made robust:

- the text is normalised: digits spelled out ("42" -> "forty two", "3.5" -> "three point
  five"), "%" / "&" read as words, other punctuation dropped;
- words the dictionary lacks get a pronunciation from espeak-ng's letter-to-sound rules
  (``espeak-ng -q -x --sep=_ -v en-us``, mnemonics mapped to ARPAbet by
  server.corpus.phones.espeak_to_arpabet);
- audio longer than MAX_SEGMENT_S is aligned in segments cut in pauses between words: each
  word's rough place comes from the time warp below (espeak-ng renders of the words warped
  onto the audio), the cut goes at the quietest moment between two words, and each segment is
  aligned with its own words;
- a segment pocketsphinx cannot align keeps the recogniser's phones for its stretch of audio
  (the result's ``fallbacks`` names it) rather than failing the job.

Other languages: espeak-ng speaks the text in that language with phoneme events (its own
phone timings, server/corpus/engines.py), and the rendering is time-warped onto the real audio
by dynamic time warping on per-utterance-normalised MFCCs (a language-independent forced
alignment: the phone sequence is exact, its timing comes from matching the two signals).
espeak's phonemes map to ARPAbet-like targets through server/corpus/ipa.py when present, else
by their mnemonic (bilabials and open vowels, what the lips need, map exactly).

``cancel`` (a threading.Event) is checked between segments.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field

import numpy as np

from server.errors import GenerationCancelled, InputError
from server.audio import SAMPLE_RATE
from server.phones import NON_SPEECH, SILENCE
from server.speech.alignment import AlignmentError, _contiguous, align
from server.speech.pool import POOL

MAX_SEGMENT_S = 20.0          # pocketsphinx aligns at most this much audio at once
MIN_SEGMENT_S = 8.0           # ... and a cut leaves at least this much before it
ENGLISH_KNOWN_SHARE = 0.6     # "auto": ASCII text whose words the dictionary mostly knows is English
DTW_HOP = 160                 # 10 ms feature frames for the time warp
DTW_MAX_CELLS = 40_000_000    # beyond this (about 60 s against 60 s) the warp uses 20 ms frames
_N_MELS, _N_CEPS = 40, 13
# pocketsphinx loses the path on speech that starts at the first sample (a word cut at a
# segment's edge, a clip trimmed tight): each piece is aligned with this much silence each side.
PAD_S = 0.2


@dataclass
class TranscriptAlignment:
    words: list[str]                         # the words, in order (the engine reports them)
    phones: list[tuple[str, float, float]]
    transcript: str                          # the words aligned, normalised
    language: str                            # "en" or the espeak-ng voice used
    method: str                              # "pocketsphinx" or "espeak-ng time warp"
    fallbacks: list[str] = field(default_factory=list)       # segments that kept the recogniser's phones
    pronunciations: dict[str, str] = field(default_factory=dict)  # words given a pronunciation by espeak-ng
    word_times: list[tuple[str, float, float]] = field(default_factory=list)  # English: each word's span


# --- the text --------------------------------------------------------------------------------

_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
         "fifteen sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ((10 ** 9, "billion"), (10 ** 6, "million"), (1000, "thousand"), (100, "hundred"))


def number_words(n: int) -> str:
    """An integer in English words: 1984 -> "one thousand nine hundred eighty four"."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    for size, name in _SCALES:
        if n >= size:
            head, rest = divmod(n, size)
            return f"{number_words(head)} {name}" + ("" if rest == 0 else " " + number_words(rest))
    raise AssertionError(n)


def spell_numbers(text: str) -> str:
    """Digits as English words; "%" as "percent", "&" as "and"."""
    def decimal(match: re.Match) -> str:
        whole, _, fraction = match.group(0).replace(",", "").partition(".")
        words = number_words(int(whole)) if len(whole) <= 12 else " ".join(_ONES[int(d)] for d in whole)
        if fraction:
            words += " point " + " ".join(_ONES[int(d)] for d in fraction)
        return f" {words} "

    text = re.sub(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?", decimal, text)
    return text.replace("%", " percent ").replace("&", " and ")


def english_words(text: str) -> list[str]:
    """The transcript as lower-case words for the aligner (numbers spelled out, punctuation gone)."""
    words = [w.strip("'") for w in re.sub(r"[^a-z' ]+", " ", spell_numbers(text).lower().replace("-", " ")).split()]
    return [w for w in words if w]


def _check_text(text) -> str:
    if not isinstance(text, str) or not text.strip():
        raise InputError("transcript: it is empty; give the words spoken in the audio, or leave it out")
    if not any(ch.isalnum() for ch in text):
        raise InputError(f"transcript: {text[:40]!r} has no words; give the words spoken in the audio")
    return text.strip()


def _dictionary():
    from server.speech.alignment import _decoder

    return _decoder(None, {}, False)


def looks_english(text: str) -> bool:
    """ASCII words of which at least ENGLISH_KNOWN_SHARE are in pocketsphinx's English dictionary."""
    letters = [ch for ch in text if ch.isalpha()]
    if not letters or sum(ch.isascii() for ch in letters) < 0.95 * len(letters):
        return False
    words = english_words(text)
    decoder = _dictionary()
    known = sum(decoder.lookup_word(w) is not None for w in words)
    return bool(words) and known >= ENGLISH_KNOWN_SHARE * len(words)


def espeak_pronunciation(word: str, voice: str = "en-us") -> str:
    """ARPAbet pronunciation ("Z AO R B L AE T") of a word from espeak-ng's letter-to-sound rules."""
    from server.corpus.phones import UnknownPhone, espeak_to_arpabet

    try:
        out = subprocess.run(["espeak-ng", "-q", "-x", "--sep=_", "-v", voice, word], capture_output=True,
                             text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError) as error:
        raise InputError(f"transcript: no pronunciation for {word!r} (espeak-ng: {error}); "
                         "install espeak-ng or respell the word") from error
    phones: list[str] = []
    for name in re.split(r"[_\s]+", out):
        name = name.strip("'',%=")
        if not name:
            continue
        try:
            phones += [p for p in espeak_to_arpabet(name, rhotic=True) if p not in NON_SPEECH]
        except UnknownPhone:
            continue
    return " ".join(phones)


# --- features and the time warp ---------------------------------------------------------------

def mfcc(samples: np.ndarray, hop: int = DTW_HOP) -> np.ndarray:
    """(T, 13) MFCCs (with c0) at SAMPLE_RATE / hop frames per second, normalised per utterance."""
    from scipy.fft import dct

    from server.features.logmel import log_mel, normalise_utterance

    logmel = normalise_utterance(log_mel(np.asarray(samples, dtype=np.float32), n_mels=_N_MELS, hop=hop))
    ceps = dct(logmel, type=2, norm="ortho", axis=0)[:_N_CEPS].T
    return ((ceps - ceps.mean(axis=0)) / np.maximum(ceps.std(axis=0), 1e-3)).astype(np.float32)


def dtw_path(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(K, 2) the cheapest monotone path from (0, 0) to (len(a)-1, len(b)-1) between feature
    sequences a (N, D) and b (M, D): symmetric steps, a diagonal step costing twice its cell."""
    cost = np.sqrt(np.maximum(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1), 0)).astype(np.float32)
    n, m = cost.shape
    total = np.empty((n, m), dtype=np.float32)
    total[0] = np.cumsum(cost[0])
    for i in range(1, n):
        c = cost[i]
        # From below or the diagonal, then the horizontal run as a min-plus scan:
        # D[i, j] = min_k<=j (entry_k + sum_{k<l<=j} c_l) = C_j + cummin(entry - C)_j.
        entry = np.empty(m, dtype=np.float32)
        entry[0] = total[i - 1, 0] + c[0]
        entry[1:] = np.minimum(total[i - 1, :-1] + 2 * c[1:], total[i - 1, 1:] + c[1:])
        run = np.cumsum(c)
        total[i] = run + np.minimum.accumulate(entry - run)
    i, j, path = n - 1, m - 1, [(n - 1, m - 1)]
    while i > 0 or j > 0:
        if i == 0:
            j -= 1
        elif j == 0:
            i -= 1
        else:
            options = (total[i - 1, j - 1] + cost[i, j], total[i - 1, j], total[i, j - 1])
            step = int(np.argmin(options))
            i, j = (i - 1, j - 1) if step == 0 else (i - 1, j) if step == 1 else (i, j - 1)
        path.append((i, j))
    return np.array(path[::-1])


def time_warp(render: np.ndarray, real: np.ndarray):
    """A monotone map from times in ``render`` to times in ``real`` (both 16 kHz), by DTW."""
    hop = DTW_HOP
    if (len(render) / hop) * (len(real) / hop) > DTW_MAX_CELLS:
        hop = 2 * DTW_HOP
    path = dtw_path(mfcc(render, hop), mfcc(real, hop))
    frames = path[-1, 0] + 1
    # Each rendered frame goes to the middle of the real frames the path pairs it with.
    sums = np.bincount(path[:, 0], weights=path[:, 1], minlength=frames)
    counts = np.bincount(path[:, 0], minlength=frames)
    target = np.maximum.accumulate(sums / np.maximum(counts, 1))
    src_t = np.arange(frames) * hop / SAMPLE_RATE
    dst_t = target * hop / SAMPLE_RATE
    real_end, render_end = len(real) / SAMPLE_RATE, len(render) / SAMPLE_RATE

    def warp(t):
        t = np.asarray(t, dtype=np.float64)
        out = np.interp(t, np.r_[src_t, render_end], np.r_[dst_t, real_end])
        return np.clip(out, 0.0, real_end)

    return warp


# --- espeak-ng renderings ---------------------------------------------------------------------

def _espeak_render(text: str, voice: str):
    """(16 kHz audio, raw (mnemonic, start_s, end_s) spans) of espeak-ng speaking ``text``."""
    from server.corpus.engines import EngineError, Espeak, Voice

    try:
        return Espeak.get().synth(text, Voice("espeak", voice))
    except EngineError as error:
        raise InputError(f"transcript: espeak-ng cannot speak it in {voice!r} ({error}); "
                         "check the language setting (a code such as 'es', 'fr', 'pt-br')") from error


_VOWEL_GUESS = {"a": "AA", "A": "AA", "e": "EH", "E": "EH", "i": "IY", "I": "IH", "o": "OW", "O": "AO",
                "u": "UW", "U": "UH", "y": "UW", "Y": "UW", "@": "AH", "V": "AH", "3": "ER", "0": "AA",
                "&": "AE", "W": "EH", "Q": "AO"}


def espeak_phone_targets(name: str) -> tuple[str, ...]:
    """ARPAbet-like targets of an espeak-ng phoneme mnemonic of any language."""
    try:
        from server.corpus import ipa          # the multilingual mapping, where the branch has it

        return tuple(ipa.espeak_to_arpabet(name))
    except Exception:                            # noqa: BLE001 - absent or unknown: map by mnemonic
        pass
    from server.corpus.phones import UnknownPhone, espeak_to_arpabet

    base = name.strip("'',:;^!") or name
    if base.startswith("_") or base in ("", "||"):
        return (SILENCE,)
    try:
        return espeak_to_arpabet(base, rhotic=False)
    except UnknownPhone:
        pass
    first = base[0]
    if first in "pbm":
        return ({"p": "P", "b": "B", "m": "M"}[first],)
    if first in _VOWEL_GUESS:
        return (_VOWEL_GUESS[first],)
    return ("T",)                                # some other consonant: neither closed nor open


def _mapped(raw) -> list[tuple[str, float, float]]:
    from server.corpus.phones import to_arpabet

    return to_arpabet(raw, espeak_phone_targets)


def espeak_time_warp(samples: np.ndarray, text: str, voice: str) -> list[tuple[str, float, float]]:
    """Contiguous phones of ``text`` spoken in ``samples``: espeak-ng's rendering warped onto it."""
    render, raw = _espeak_render(text, voice)
    warp = time_warp(render, samples)
    phones = _mapped(raw)
    starts = warp([s for _, s, _ in phones])
    ends = warp([e for _, _, e in phones])
    spans = [(p, round(float(s), 3), round(float(e), 3)) for (p, _, _), s, e in zip(phones, starts, ends)
             if p != SILENCE]
    return _contiguous(spans, len(samples) / SAMPLE_RATE)


# --- English ----------------------------------------------------------------------------------

def _word_places(samples: np.ndarray, words: list[str]) -> list[tuple[float, float]]:
    """Rough (start_s, end_s) of each word in ``samples``: espeak-ng renders of the words, one
    after another, warped onto the audio."""
    pieces, spans, t = [], [], 0.0
    gap = np.zeros(int(0.05 * SAMPLE_RATE), dtype=np.float32)
    for word in words:
        audio, _ = _espeak_render(word, "en-us")
        pieces += [audio, gap]
        spans.append((t, t + len(audio) / SAMPLE_RATE))
        t += (len(audio) + len(gap)) / SAMPLE_RATE
    warp = time_warp(np.concatenate(pieces), samples)
    return [(float(warp(s)), float(warp(e))) for s, e in spans]


def english_segments(samples: np.ndarray, words: list[str]) -> list[tuple[int, int, list[str]]]:
    """(first sample, end sample, words) of each stretch to align, at most MAX_SEGMENT_S long where
    the words allow, cut at the quietest 10 ms between two words."""
    n = len(samples)
    if n <= MAX_SEGMENT_S * SAMPLE_RATE or len(words) < 2:
        return [(0, n, words)]
    places = _word_places(samples, words)
    hop = SAMPLE_RATE // 100
    energy = np.convolve((np.asarray(samples[: n - n % hop], dtype=np.float64).reshape(-1, hop) ** 2).mean(1),
                         np.ones(5) / 5, mode="same")
    segments, start, first = [], 0, 0
    while (n - start) > MAX_SEGMENT_S * SAMPLE_RATE:
        best = None
        for k in range(first, len(words) - 1):
            lo_s, hi_s = places[k][1] - 0.1, places[k + 1][0] + 0.1
            if lo_s * SAMPLE_RATE < start + MIN_SEGMENT_S * SAMPLE_RATE:
                continue
            if hi_s * SAMPLE_RATE > start + MAX_SEGMENT_S * SAMPLE_RATE:
                break
            lo, hi = int(lo_s * 100), max(int(hi_s * 100), int(lo_s * 100) + 1)
            frame = lo + int(np.argmin(energy[lo:hi]))
            if best is None or energy[frame] < best[0]:
                best = (energy[frame], frame * hop, k + 1)
        if best is None:
            break                                # no gap between words in range: align the rest at once
        _, cut, next_first = best
        segments.append((start, cut, words[first:next_first]))
        start, first = cut, next_first
    segments.append((start, n, words[first:]))
    return segments


def _unpadded(spans, length: int) -> list[tuple[str, float, float]]:
    """Spans of an alignment of the padded piece, in the piece's own time (clipped to it)."""
    end = length / SAMPLE_RATE
    out = [(x, min(max(s - PAD_S, 0.0), end), min(max(e - PAD_S, 0.0), end)) for x, s, e in spans]
    return [(x, round(s, 3), round(e, 3)) for x, s, e in out if e > s]


def _align_here(samples, text, options):
    return align(samples, text, **options)


def align_in_helper(samples: np.ndarray, text: str, extra_words: dict[str, str] | None = None):
    """server.speech.alignment.align without dither, in a speech helper process (server/speech/pool.py):
    pocketsphinx holds the GIL for the whole alignment, which would freeze the sidecar's HTTP loop."""
    request = ("align", np.ascontiguousarray(samples, dtype=np.float32), text,
               {"extra_words": extra_words, "dither": False})
    return POOL.call(request, _align_here)


def _english(samples, text, cancel) -> TranscriptAlignment:
    words = english_words(text)
    if not words:
        raise InputError(f"transcript: {text[:40]!r} has no English words; give the words spoken in the audio")
    decoder = _dictionary()
    extra = {}
    for word in sorted(set(words)):
        if decoder.lookup_word(word) is None:
            pronunciation = espeak_pronunciation(word)
            if pronunciation:
                extra[word] = pronunciation
            else:
                words = [w for w in words if w != word]       # no sound at all (e.g. "hmm'"): left out
    if not words:
        raise InputError(f"transcript: {text[:40]!r} has no words to pronounce; give the words spoken")
    duration = len(samples) / SAMPLE_RATE
    spans: list[tuple[str, float, float]] = []
    timed_words: list[tuple[str, float, float]] = []
    fallbacks: list[str] = []
    segments = english_segments(samples, words)
    pad = np.zeros(int(PAD_S * SAMPLE_RATE), dtype=np.float32)
    for a, b, seg_words in segments:
        if cancel is not None and cancel.is_set():
            raise GenerationCancelled("generation cancelled")
        offset = a / SAMPLE_RATE
        piece = samples[a:b]
        try:
            if not seg_words:
                raise AlignmentError("no words in this stretch")
            found = align_in_helper(np.r_[pad, piece, pad], " ".join(seg_words), extra_words=extra or None)
            seg_spans, seg_timed = _unpadded(found.phones, len(piece)), _unpadded(found.words, len(piece))
        except AlignmentError as error:
            from server.speech.recognise import recognise

            heard = recognise(piece, cancel=cancel)
            seg_spans, seg_timed = heard.phones, []
            fallbacks.append(f"{offset:.1f}-{b / SAMPLE_RATE:.1f} s ({' '.join(seg_words)[:60]!r}): "
                             f"recogniser's phones ({error})")
        spans += [(p, s + offset, e + offset) for p, s, e in seg_spans if p != SILENCE]
        timed_words += [(w, s + offset, e + offset) for w, s, e in seg_timed]
    return TranscriptAlignment(words=words, phones=_contiguous(spans, duration), transcript=" ".join(words),
                               language="en", method="pocketsphinx", fallbacks=fallbacks, pronunciations=extra,
                               word_times=timed_words)


# --- entry point ------------------------------------------------------------------------------

def transcript_phones(samples: np.ndarray, text: str, language: str = "auto", cancel=None) -> TranscriptAlignment:
    """Words and contiguous timed phones of ``text`` spoken in 16 kHz mono ``samples``."""
    from server.speech.language import LanguageError, check_language

    text = _check_text(text)
    try:
        code = check_language(language)
    except LanguageError as error:
        raise InputError(str(error)) from error
    samples = np.asarray(samples, dtype=np.float32)
    if len(samples) == 0 or float(np.max(np.abs(samples))) == 0.0:
        raise InputError("transcript: the audio is silent; there is nothing to align the words to")
    if cancel is not None and cancel.is_set():
        raise GenerationCancelled("generation cancelled")
    if code.split("-")[0] == "en" or (code == "auto" and looks_english(text)):
        return _english(samples, text, cancel)
    if code == "auto":
        raise InputError("transcript: it does not look English; set the language (a code such as 'es', 'fr') "
                         "so espeak-ng can read it")
    phones = espeak_time_warp(samples, text, code)
    return TranscriptAlignment(words=text.split(), phones=phones, transcript=text, language=code,
                               method="espeak-ng time warp")
