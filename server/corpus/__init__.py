"""Synthetic speech corpus with exact phone timings (espeak-ng, flite, festival) and augmentation.

Layout and item format: docs/ARCHITECTURE.md ("Corpus on disk"). Build with `scripts/make_corpus`.
"""
from .build import build_corpus, build_tiny, read_manifest

__all__ = ["build_corpus", "build_tiny", "read_manifest"]
