"""Audio encoders, swappable behind one interface.

An encoder has two halves:
- ``features(samples16k) -> Tensor (C, T_feat)``: fixed (not learned) analysis, computed once
  per clip and cacheable (log-mel spectrogram, pocketsphinx's recognised phones, or raw
  waveform for wav2vec2);
- ``forward(features (B, C, T_feat), num_frames) -> Tensor (B, D, num_frames)``: the learned
  part, giving one D-dim vector per output frame at the model's frame rate.

``build_encoder(config)`` makes one from the ``features`` section of a checkpoint config.
"""

from __future__ import annotations

from server.features.base import AudioEncoder
from server.features.logmel import LogMelEncoder


def build_encoder(config: dict) -> AudioEncoder:
    kind = config.get("kind", "logmel")
    if kind == "logmel":
        return LogMelEncoder(**{k: v for k, v in config.items() if k != "kind"})
    if kind == "wav2vec2":
        from server.features.wav2vec2 import Wav2Vec2Encoder

        return Wav2Vec2Encoder(**{k: v for k, v in config.items() if k != "kind"})
    if kind in ("phones", "logmel+phones"):
        from server.features.phones import PhoneEncoder

        return PhoneEncoder(with_logmel=kind == "logmel+phones", **{k: v for k, v in config.items() if k != "kind"})
    raise ValueError(f"unknown audio encoder kind {kind!r} "
                     "(expected 'logmel', 'phones', 'logmel+phones' or 'wav2vec2')")


__all__ = ["AudioEncoder", "LogMelEncoder", "build_encoder"]
