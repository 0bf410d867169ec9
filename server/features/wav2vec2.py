"""Optional encoder: a transformers Wav2Vec2 or HuBERT model loaded from a local directory.

No weights are downloaded: ``model_dir`` must hold a ``save_pretrained`` directory (a studio's
own pretrained speech model). The speech model is frozen; a small learned head maps its hidden
states to the denoiser's audio vectors. Long audio is encoded in overlapping windows so the
attention cost stays bounded.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import nn

from server.audio import SAMPLE_RATE
from server.features.base import AudioEncoder, sample_at_frames

WINDOW_S = 20.0
OVERLAP_S = 2.0


class Wav2Vec2Encoder(AudioEncoder):
    def __init__(self, model_dir: str, out_dim: int = 128, hidden: int = 192):
        super().__init__()
        from transformers import AutoConfig, AutoModel

        if not os.path.isdir(model_dir):
            raise ValueError(f"wav2vec2 encoder: {model_dir} is not a directory saved with save_pretrained()")
        self.model_dir, self.out_dim, self.hidden = model_dir, out_dim, hidden
        cfg = AutoConfig.from_pretrained(model_dir, local_files_only=True)
        if cfg.model_type not in ("wav2vec2", "hubert"):
            raise ValueError(f"wav2vec2 encoder: {model_dir} holds a {cfg.model_type!r} model, "
                             "expected wav2vec2 or hubert")
        self.speech = AutoModel.from_pretrained(model_dir, local_files_only=True)
        self.speech.eval().requires_grad_(False)
        stride = int(np.prod(cfg.conv_stride))
        self.feature_rate = SAMPLE_RATE / stride
        self._input_rate = float(SAMPLE_RATE)  # features() is the waveform itself
        self.head = nn.Sequential(nn.Conv1d(cfg.hidden_size, hidden, 3, padding=1), nn.GELU(),
                                  nn.Conv1d(hidden, out_dim, 1))
        self.receptive_radius = 1

    def config(self) -> dict:
        return {"kind": "wav2vec2", "model_dir": self.model_dir, "out_dim": self.out_dim, "hidden": self.hidden}

    def features(self, samples: np.ndarray) -> torch.Tensor:
        x = np.asarray(samples, dtype=np.float32)
        x = (x - x.mean()) / (x.std() + 1e-7)
        return torch.from_numpy(x)[None]  # (1, N): the waveform is this encoder's "feature"

    def _hidden_states(self, wav: torch.Tensor) -> torch.Tensor:
        """(B, N) waveform -> (B, H, T_feat), windowed with overlap for long inputs."""
        n = wav.shape[-1]
        win, hop = int(WINDOW_S * SAMPLE_RATE), int((WINDOW_S - OVERLAP_S) * SAMPLE_RATE)
        with torch.no_grad():
            if n <= win:
                return self.speech(wav).last_hidden_state.transpose(1, 2)
            pieces, keep_from = [], 0
            rate = self.feature_rate / SAMPLE_RATE
            for start in range(0, n, hop):
                h = self.speech(wav[:, start:start + win]).last_hidden_state.transpose(1, 2)
                # Keep each window's middle: drop half the overlap at inner edges.
                first = 0 if start == 0 else int(OVERLAP_S / 2 * self.feature_rate)
                begin = int(round(start * rate)) + first
                take = h[..., first:]
                pieces.append(take[..., max(0, keep_from - begin):])
                keep_from = begin + take.shape[-1]
                if start + win >= n:
                    break
            return torch.cat(pieces, dim=-1)

    def forward(self, feats: torch.Tensor, num_frames: int, fps: float) -> torch.Tensor:
        h = self._hidden_states(feats[:, 0])
        return sample_at_frames(self.head(h), self.feature_rate, fps, num_frames)
