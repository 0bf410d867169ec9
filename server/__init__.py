"""Mouthpiece sidecar: the speech-conditioned diffusion model, its training, and the HTTP API."""

__version__ = "0.1.0"
