"""Multilingual corpus: every language's espeak-ng phonemes map through IPA features, items
record their language, held-out voices exist per language, English items are unchanged."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from server.audio import SAMPLE_RATE as SR
from server.corpus import build_tiny, read_manifest
from server.corpus import text
from server.corpus.build import (ESPEAK_LANGUAGES, available_voices, draw_voice, is_heldout,
                                 language_voices, make_clean, synth_phrase, voice_language)
from server.corpus.engines import Voice, synth
from server.corpus.ipa import espeak_to_arpabet, ipa_to_arpabet, vowel_target
from server.corpus.phones import UnknownPhone, validate
from server.phones import NON_SPEECH, PHONES



def test_features_pick_targets_by_lips_and_jaw():
    assert ipa_to_arpabet("p") == ("P",) and ipa_to_arpabet("bʰ") == ("B",) and ipa_to_arpabet("mʲ") == ("M",)
    assert ipa_to_arpabet("f") == ("F",) and ipa_to_arpabet("ʋ") == ("V",)
    assert ipa_to_arpabet("y") == ("UW",) and ipa_to_arpabet("ø") == ("OW",) and ipa_to_arpabet("œ̃") == ("AO",)
    assert ipa_to_arpabet("a") == ("AA",) and ipa_to_arpabet("æ") == ("AE",) and ipa_to_arpabet("ɑː") == ("AA",)
    assert ipa_to_arpabet("χ") == ("HH",) and ipa_to_arpabet("x") == ("K",) and ipa_to_arpabet("ç") == ("HH",)
    assert ipa_to_arpabet("ts") == ("T", "S") and ipa_to_arpabet("tɕh") == ("CH",)
    assert ipa_to_arpabet("aɪ") == ("AY",) and ipa_to_arpabet("iou") == ("IY", "OW")
    assert vowel_target(0, "front", True) == "UW" and vowel_target(6, "front", False) == "AA"


def test_mnemonic_pairs_pauses_modifiers_and_unknowns():
    assert espeak_to_arpabet(("_:", "")) == ("SIL",)
    assert espeak_to_arpabet((";", "ʲ")) == () and espeak_to_arpabet(("_j", "ʲ")) == ()
    assert espeak_to_arpabet(("Q", "ɣ")) == ("G",) and espeak_to_arpabet(("A", "ʕ")) == ("HH",)
    assert espeak_to_arpabet(("ts.h", "ts.h")) == ("CH",)          # no IPA: the mnemonic is parsed
    assert espeak_to_arpabet(("UR", "??")) == ("UH", "AH")
    with pytest.raises(UnknownPhone, match="qq"):
        espeak_to_arpabet(("qq", "ʘ"))


@pytest.mark.parametrize("language", sorted(ESPEAK_LANGUAGES))
def test_every_sampled_phoneme_of_each_language_maps(language):
    """A few sentences per language: no English switching, every event maps, spans validate."""
    voice = Voice("espeak", ESPEAK_LANGUAGES[language])
    rng = np.random.default_rng(len(language))
    pool = text.sentences(language)
    assert len(pool) >= 60
    for k in rng.choice(len(pool), 3, replace=False):
        sentence = pool[int(k)]
        _, raw = synth(sentence, voice, ipa=True)
        names = [n for n, _, _ in raw]
        assert not any(m.startswith("(") for m, _ in names), (language, sentence, names)
        for name in names:
            assert set(espeak_to_arpabet(name)) <= PHONES
        audio, phones = synth_phrase(sentence, voice)
        validate(phones, len(audio) / SR)
        assert sum(p not in NON_SPEECH for p, _, _ in phones) >= 5


def test_heldout_voices_in_every_language():
    voices = available_voices(("espeak",), tuple(ESPEAK_LANGUAGES))
    for code in ESPEAK_LANGUAGES:
        names = language_voices(voices, code)["espeak"]
        held = [n for n in names if is_heldout("espeak", n)]
        assert sorted(n.split("+")[1] for n in held) == ["f3", "m2"], code
        assert all(voice_language("espeak", n) == code for n in names)


def test_english_draws_are_unchanged():
    """English-only items draw as before languages existed (same voice, text and audio)."""
    voices = available_voices(("espeak", "flite", "festival"))
    assert "pt-br" not in {n.split("+")[0] for n in voices.get("espeak", [])}
    rng = np.random.default_rng([0, 3, 1])
    voice = draw_voice(rng, voices)
    phrases = text.utterance(rng, max_phrases=1)
    _, _, info = make_clean(3, 0, voices, max_phrases=1)
    assert (info["voice"], info["text"], info["language"]) == (voice.name, " | ".join(phrases), "en")


def test_multilingual_tiny_build_records_languages(tmp_path):
    out = str(tmp_path / "multi")
    languages = ("es", "ja", "ar", "en")
    summary = build_tiny(out, n_items=6, seed=2, languages=languages)
    rows = read_manifest(out)
    assert len(rows) == 12 and {r["language"] for r in rows} <= set(languages)
    assert len({r["language"] for r in rows}) >= 2
    for row in rows:
        with open(os.path.join(out, row["json"])) as f:
            meta = json.load(f)
        assert meta["language"] == row["language"]
        assert row["language"] == voice_language(row["engine"], row["voice"])
        validate([tuple(p) for p in meta["phones"]], meta["duration"], tol=2e-4)
    assert summary["config"]["languages"] == list(languages)
    assert set(summary["hours"]["by_language"]) == {r["language"] for r in rows}


def test_stop_closure_correction_applies_to_other_languages():
    """espeak marks stops at their release in every language: P/T/K start earlier after correction."""
    from server.corpus import ipa
    from server.corpus.phones import to_arpabet
    voice = Voice("espeak", ESPEAK_LANGUAGES["it"])
    sentence = "Il papà porta un pacco di carta."
    _, raw = synth(sentence, voice, ipa=True)
    uncorrected = [s for p, s, _ in to_arpabet(raw, lambda n: ipa.espeak_to_arpabet(n, "it")) if p in ("P", "T", "K")]
    _, phones = synth_phrase(sentence, voice)
    corrected = [s for p, s, _ in phones if p in ("P", "T", "K")]
    assert len(corrected) == len(uncorrected) >= 6
    moved = [u - c for u, c in zip(uncorrected, corrected)]
    assert all(m >= -1e-6 for m in moved) and sum(m > 0.02 for m in moved) >= len(moved) // 2


def test_cli_rejects_unknown_languages(tmp_path, capsys):
    from server.corpus.__main__ import main
    for bad in ("xx", "es,es", "es --engines flite"):
        argv = ["--out", str(tmp_path / "c"), "--hours", "0.01", "--languages"] + bad.split(" ")
        with pytest.raises(SystemExit):
            main(argv)
    assert "--languages" in capsys.readouterr().err
