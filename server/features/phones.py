"""A transcript-free phone front end: pocketsphinx's English acoustic model as a phone recogniser.

pocketsphinx's wheel ships a US-English acoustic model and a phone trigram language model
(``en-us-phone.lm.bin``); its "allphone" search decodes audio straight into a phone string with
times, without words or a transcript. That 1-best phone string becomes per-10 ms frames:
a one-hot over the 39 ARPAbet phones and SIL (``PHONE_SET``), plus one channel of frame
loudness (the recogniser says *which* sound, not how loud or how open it is). The kind
``logmel+phones`` puts the normalised log-mel spectrogram beside them, so the learned
part can use the recogniser where it is sure and the spectrum where it is not.

The learned part is the log-mel encoder's dilated conv stack over these channels, at the
same 100 Hz input rate (pocketsphinx's frame rate equals the log-mel hop), so the two kinds
differ only in their input.

pocketsphinx's allphone search keeps no lattice, so there are no phone posteriors to make
the identity soft; the one-hot is the recogniser's decision.
"""

from __future__ import annotations

import threading

import numpy as np
import torch

from server.audio import SAMPLE_RATE
from server.phones import ARPABET, SILENCE
from server.features.logmel import LogMelEncoder, log_mel, normalise_utterance

# The contract's phones (docs/ARCHITECTURE.md) that pocketsphinx's model knows: it has no breath.
PHONE_SET = list(ARPABET) + [SILENCE]
PHONE_INDEX = {p: i for i, p in enumerate(PHONE_SET)}
SIL_INDEX = PHONE_INDEX["SIL"]
FRAME_RATE = 100.0  # pocketsphinx's frames per second
HOP = int(SAMPLE_RATE / FRAME_RATE)
# Channels after the phone one-hot: frame loudness.
EXTRA_CHANNELS = 1
# Weight of the phone language model against the acoustics. pocketsphinx's default (6.5) is
# tuned for words; on held-out synthetic corpus voices 2.0 finds 0.59 of the bilabials
# instead of 0.45 (docs/FRONTEND.md). 1.0 finds as many with more false ones.
LANGUAGE_WEIGHT = 2.0

# pocketsphinx's features break down on exact digital zeros (the log of zero energy upsets its
# cepstral mean normalisation; see server/evaluation/alignment.py), so a seeded -60 dBFS floor is
# added, far below any speech. It replaces pocketsphinx's dither, whose seed comes from the clock:
# the same audio always gives the same phones.
NOISE_FLOOR = 1e-3

_DECODERS: dict[float, tuple[object, str]] = {}  # language weight -> (decoder, its initial CMN)
_DECODER_LOCK = threading.Lock()  # a pocketsphinx decoder is not re-entrant


def _decoder(language_weight: float):
    """A decoder reset to its initial state, so one clip's phones never depend on the clip before.

    pocketsphinx carries its cepstral mean and front-end state from one utterance to the next
    (measured: the same clip decodes differently after another one); resetting both gives the
    result of a fresh decoder without reloading the model (about half a second).
    """
    from pocketsphinx import Decoder, get_model_path

    from server.speech.alignment import reset_decoder

    if language_weight not in _DECODERS:
        # Context-independent phones (pocketsphinx's allphone default): triphones decode
        # more than 20 times slower.
        decoder = Decoder(samprate=SAMPLE_RATE, loglevel="FATAL", lm=None, dither=False,
                          allphone=get_model_path("en-us/en-us-phone.lm.bin"), lw=language_weight)
        _DECODERS[language_weight] = (decoder, decoder.get_cmn())
    return reset_decoder(*_DECODERS[language_weight])


def recognise_phones(samples: np.ndarray, *,
                     language_weight: float = LANGUAGE_WEIGHT) -> list[tuple[str, float, float]]:
    """16 kHz mono float samples -> recognised ``(phone, start_s, end_s)`` spans.

    Spans follow the phone contract (contiguous, sorted, cover [0, duration], ARPAbet + SIL);
    pocketsphinx's noise phones (+NSN+, +SPN+) become SIL. Times are pocketsphinx frames / 100,
    as in the forced alignment.
    """
    samples = np.asarray(samples, dtype=np.float64).reshape(-1)
    duration = len(samples) / SAMPLE_RATE
    n_frames = _num_frames(len(samples))
    floor = NOISE_FLOOR * np.random.default_rng(0).standard_normal(len(samples))
    pcm = (np.clip(samples + floor, -1.0, 1.0) * 32767).astype("<i2").tobytes()
    with _DECODER_LOCK:
        decoder = _decoder(float(language_weight))
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        segments = [(s.word, s.start_frame, s.end_frame) for s in (decoder.seg() or [])]
    labels = np.full(n_frames, SIL_INDEX, dtype=np.int64)
    for phone, start, end in segments:
        labels[max(start, 0): min(end + 1, n_frames)] = PHONE_INDEX.get(phone, SIL_INDEX)
    spans, start = [], 0
    for j in range(1, n_frames + 1):
        if j == n_frames or labels[j] != labels[start]:
            spans.append((PHONE_SET[labels[start]], start / FRAME_RATE, min(j / FRAME_RATE, duration)))
            start = j
    if spans:
        spans[-1] = (spans[-1][0], spans[-1][1], duration)
    return spans


def _num_frames(num_samples: int) -> int:
    return max(1, int(np.ceil(num_samples / HOP)))


def phone_frames(spans: list[tuple[str, float, float]], num_frames: int) -> np.ndarray:
    """(len(PHONE_SET), num_frames) one-hot: frame j holds the phone covering time j / 100."""
    onehot = np.zeros((len(PHONE_SET), num_frames), dtype=np.float32)
    times = np.arange(num_frames) / FRAME_RATE
    labels = np.full(num_frames, SIL_INDEX)
    for phone, start, end in spans:
        labels[(times >= start - 1e-9) & (times < end - 1e-9)] = PHONE_INDEX[phone]
    onehot[labels, np.arange(num_frames)] = 1.0
    return onehot


def loudness_channel(logmel: np.ndarray) -> np.ndarray:
    """(T,) frame loudness from a raw log-mel: 0 at the utterance's loud frames, -1 per 20 dB below."""
    energy = np.log(np.exp(logmel).mean(axis=0) + 1e-10)
    loud = np.percentile(energy, 95) if energy.size else 0.0
    return np.clip((energy - loud) / np.log(100.0), -4.0, 1.0).astype(np.float32)


class PhoneEncoder(LogMelEncoder):
    """Recognised phones (+ loudness, + optionally log-mel) -> the log-mel encoder's conv stack."""

    def __init__(self, with_logmel: bool = False, n_mels: int = 80, hop: int = HOP, hidden: int = 128,
                 out_dim: int = 128, dilations: tuple = (1, 2, 4, 8, 1, 2), stride: int = 2,
                 dropout: float = 0.1, language_weight: float = LANGUAGE_WEIGHT):
        if hop != HOP:
            raise ValueError(f"phones encoder: hop must be {HOP} samples (pocketsphinx's 10 ms frame), got {hop}")
        self.with_logmel = bool(with_logmel)
        in_channels = len(PHONE_SET) + EXTRA_CHANNELS + (n_mels if self.with_logmel else 0)
        super().__init__(n_mels=in_channels, hop=hop, hidden=hidden, out_dim=out_dim, dilations=dilations,
                         stride=stride, dropout=dropout)
        self.in_channels = in_channels
        self.n_mels = n_mels  # the log-mel bands (the conv stack's input is in_channels wide)
        self.language_weight = float(language_weight)

    @property
    def kind(self) -> str:
        return "logmel+phones" if self.with_logmel else "phones"

    def config(self) -> dict:
        out = {"kind": self.kind, "hop": self.hop, "hidden": self.hidden, "out_dim": self.out_dim,
               "dilations": list(self.dilations), "stride": self.stride,
               "language_weight": self.language_weight}
        if self.with_logmel:
            out["n_mels"] = self.n_mels
        return out

    def features(self, samples: np.ndarray) -> torch.Tensor:
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        mel = log_mel(samples, n_mels=self.n_mels, hop=self.hop)  # (n_mels, T) frame j at j * hop
        num_frames = mel.shape[1]
        spans = recognise_phones(samples, language_weight=self.language_weight)
        parts = [phone_frames(spans, num_frames), loudness_channel(mel)[None]]
        if self.with_logmel:
            parts.append(normalise_utterance(mel))
        return torch.from_numpy(np.concatenate(parts, axis=0))
