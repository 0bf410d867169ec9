"""Synthetic speech corpus with exact phone timings (espeak-ng, flite, festival) and augmentation.

Build: `scripts/make_corpus --out data/corpus --hours 3 --seed 0 [--workers 2] [--augment 2]`
(hours = clean audio; total = hours x (1 + augment)). Rerun the same command to resume after
Ctrl-C or a kill; a larger --hours extends the corpus. System packages: espeak-ng, flite,
festival, festvox-kallpc16k, festvox-kdlpc16k, festvox-us-slt-hts, sox, and for other
languages the festival voices in scripts/_env.sh FESTIVAL_LANGUAGE_APT_PACKAGES.

Layout (docs/ARCHITECTURE.md, "Corpus on disk"):
- items/<index>_clean.wav|json and items/<index>_aug<k>.wav|json: 16 kHz mono PCM16 and
  {"id", "index", "text", "language", "engine", "voice", "voice_params", "augment": params | null, "source_id",
  "split": "train" | "heldout", "duration", "phones": [[ARPAbet | SIL | BR, start_s, end_s], ...]}.
  Phones are contiguous and cover [0, duration]; augmented items' phones follow the speed change.
- manifest.jsonl: one line per finished item (the item json without phones/voice_params, plus
  "wav" and "json" paths relative to the corpus folder); the resume point.
- corpus.json: config (seed, hours, augment count, engines), voices, held-out voices and rule,
  hours by split/engine/voice, code_version, finished.
- babble_bank.npz: the clean audio of the first items, mixed as babble noise.

Held-out split: espeak variants m2 and f3 (every accent), flite rms and festival lp_diphone,
czech_machac and hy_fi_mv_diphone are never in "train".

Languages: `--languages en,es,fr,...` (default en: the English corpus, unchanged) draws each item's
language evenly; items record "language". Non-English voices are espeak-ng's (build.ESPEAK_LANGUAGES,
every variant, m2/f3 held out for 10% of the items) and, for it ru cs fi, Debian's festival voices
(engines.FESTIVAL_FOREIGN_VOICES, phone sets in festival_phones.py); text from texts/<code>.txt;
phones through IPA articulatory features (ipa.py, docs/TEACHER.md "Other languages").
"""
from .build import build_corpus, build_tiny, read_manifest

__all__ = ["build_corpus", "build_tiny", "read_manifest"]
