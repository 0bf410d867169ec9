"""The model: an audio encoder and the curve denoiser, held together for saving and loading."""

from __future__ import annotations

from torch import nn

from server.features import AudioEncoder, build_encoder
from server.model.denoiser import CurveDenoiser


class MouthpieceModel(nn.Module):
    def __init__(self, encoder: AudioEncoder, denoiser: CurveDenoiser):
        super().__init__()
        self.encoder = encoder
        self.denoiser = denoiser

    @classmethod
    def from_config(cls, features: dict, denoiser: dict) -> "MouthpieceModel":
        encoder = build_encoder(features)
        return cls(encoder, CurveDenoiser(audio_dim=encoder.out_dim, **{k: v for k, v in denoiser.items()
                                                                          if k != "audio_dim"}))


__all__ = ["CurveDenoiser", "MouthpieceModel"]
