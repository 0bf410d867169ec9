"""The model: an audio encoder, the curve denoiser and the closure detector, held together for
saving and loading."""

from __future__ import annotations

from torch import nn

from server.features import AudioEncoder, build_encoder
from server.model.closure_detector import AcousticClosureDetector, ClosureDetector, build_closure_detector
from server.model.denoiser import CurveDenoiser


class MouthpieceModel(nn.Module):
    def __init__(self, encoder: AudioEncoder, denoiser: CurveDenoiser, closure_detector: nn.Module | None = None):
        super().__init__()
        self.encoder = encoder
        self.denoiser = denoiser
        self.closure_detector = closure_detector

    @classmethod
    def from_config(cls, features: dict, denoiser: dict, closure_detector: dict | None = None) -> "MouthpieceModel":
        encoder = build_encoder(features)
        detector = build_closure_detector(closure_detector, encoder.out_dim)
        return cls(encoder, CurveDenoiser(audio_dim=encoder.out_dim, **{k: v for k, v in denoiser.items()
                                                                          if k != "audio_dim"}), detector)


__all__ = ["AcousticClosureDetector", "ClosureDetector", "CurveDenoiser", "MouthpieceModel"]
