"""Evaluation: lip opening from coefficients, forced alignment, lip-sync metrics, references.

- ``lip_opening``: the one definition of lip opening (LIP_GAINS), also on a full OBJ mesh.
- ``alignment``: pocketsphinx forced alignment of a transcript to ARPAbet phones with times.
- ``lipsync``: bilabial closure, open vowels, rest, sync (per file and pooled).
- ``model_figures``: diversity, jitter, pin error, seam jump, speed.
- ``references``: the teacher on the forced alignment, and a jaw that follows loudness.
- ``cli``: ``scripts/evaluate``, one markdown table.
"""
