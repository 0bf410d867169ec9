"""Held-out synthetic voices: how closely a curve source reproduces the teacher.

The corpus marks voices never used in training with ``"split": "heldout"``. For each such
item the target is the teacher on the item's exact phone timings with its default style
(style=None, seed 0: the teacher's neutral performance; training draws random styles, so a
model matching the neutral one within its style spread is as good as it can be), and the
figures are:

- mouth MAE: mean |source - teacher| over frames and the jaw and mouth channels, pooled;
- jawOpen correlation: Pearson correlation of jawOpen over all frames of all items, pooled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from addon.core.arkit import INDEX
from server.evaluation.model_figures import MOUTH


@dataclass
class HeldoutFigures:
    mouth_mae: float
    jaw_correlation: float
    items: int
    seconds: float

    def __str__(self) -> str:
        return f"MAE {self.mouth_mae:.3f}, jawOpen r {self.jaw_correlation:.2f}"


def compare_to_teacher(pairs: list[tuple[np.ndarray, np.ndarray]], seconds: float) -> HeldoutFigures:
    """Pooled figures over (source curves, teacher curves) pairs, trimmed to a common length."""
    if not pairs:
        raise ValueError("no held-out items to compare")
    errors, source_jaw, teacher_jaw = [], [], []
    for source, teacher in pairs:
        n = min(len(source), len(teacher))
        errors.append(np.abs(source[:n, MOUTH] - teacher[:n, MOUTH]).ravel())
        source_jaw.append(source[:n, INDEX["jawOpen"]])
        teacher_jaw.append(teacher[:n, INDEX["jawOpen"]])
    a, b = np.concatenate(source_jaw).astype(np.float64), np.concatenate(teacher_jaw).astype(np.float64)
    correlation = float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0 else 0.0
    return HeldoutFigures(float(np.concatenate(errors).mean()), correlation, len(pairs), seconds)


def heldout_items(corpus_dir, limit: int, seed: int = 0) -> list[dict]:
    """Up to ``limit`` held-out manifest items, a seeded random choice (all if fewer)."""
    from server.training.data import read_manifest

    items = read_manifest(corpus_dir, split="heldout")
    if not items:
        raise ValueError(f"{corpus_dir} has no held-out items (split 'heldout' in manifest.jsonl); "
                         "build the corpus further with scripts/make_corpus")
    if len(items) > limit:
        chosen = np.random.default_rng(seed).choice(len(items), size=limit, replace=False)
        items = [items[i] for i in sorted(chosen)]
    return items


def teacher_target(corpus_dir, item: dict, audio, fps: float) -> np.ndarray:
    """The teacher's neutral performance of one corpus item (its phones, the audio's loudness)."""
    from server.evaluation.references import teacher_on_alignment
    from server.training.data import item_phones

    phones, _duration = item_phones(corpus_dir, item)
    return teacher_on_alignment(phones, audio.samples, audio.sample_rate, fps)
