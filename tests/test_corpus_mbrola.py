"""MBROLA's recorded English diphone voices in the corpus: espeak-ng's .pho score is parsed into
phone times, every SAMPA name it writes maps to ARPAbet, each installed voice synthesises with
contiguous phones whose b/p spans hold the closure silence. Voice tests skip when MBROLA is not
installed (scripts/make_corpus --engines mbrola installs it from Debian contrib and non-free)."""
from __future__ import annotations

import numpy as np
import pytest

from server.audio import SAMPLE_RATE as SR
from server.corpus.build import available_voices, build_corpus, is_heldout, read_manifest, synth_phrase
from server.corpus.engines import (MBROLA_ENGLISH, MBROLA_VOICES, EngineError, Voice, mbrola_database, mbrola_synth,
                                   mbrola_voices, parse_pho)
from server.corpus.phones import UnknownPhone, mbrola_to_arpabet, validate
from server.phones import PHONES, VOWELS

INSTALLED = mbrola_voices()
# Every name espeak-ng 1.51's mb-us1/us2/us3/en1 wrote for 150 of the corpus's English utterances.
SCORE_NAMES = ("3: 4 5 @ @U A A: AI D E EI I I@ N O O2 O: OI Q S T U U@ V Z _ aI aU b d dZ e e@ eI f g h "
               "i i: j k k_h l l= m n n- p p_h r r= s t tS t_h u u: v w z {").split()


def _need_mbrola() -> None:
    if not INSTALLED:
        pytest.skip("MBROLA not installed (scripts/make_corpus --engines mbrola installs mbrola and "
                    "mbrola-us1 us2 us3 en1 from Debian contrib and non-free)")


def test_pho_score_gives_phones_and_durations():
    score = "; a comment\nm\t65\nAI\t44\t 0 179 100 191\n\n_\t301\n"
    assert parse_pho(score) == [("m", 0.065), ("AI", 0.044), ("_", 0.301)]


def test_every_name_the_scores_use_maps_to_arpabet():
    for name in SCORE_NAMES:
        targets = mbrola_to_arpabet(name)
        assert targets and set(targets) <= PHONES - {"BR"}, (name, targets)
    assert mbrola_to_arpabet("_") == ("SIL",)
    assert mbrola_to_arpabet("p_h") == ("P",) and mbrola_to_arpabet("m") == ("M",)
    assert mbrola_to_arpabet("{") == ("AE",) and mbrola_to_arpabet("Q") == ("AO",)   # en1's rounded LOT
    assert mbrola_to_arpabet("r=") == ("ER",) and mbrola_to_arpabet("l=") == ("AH", "L")
    with pytest.raises(UnknownPhone, match="qq"):
        mbrola_to_arpabet("qq")


def test_english_voices_all_train_and_other_languages_hold_one_speaker_out():
    assert not any(is_heldout("mbrola", v) for v in MBROLA_ENGLISH)
    for language in set(MBROLA_VOICES.values()) - {"en"}:
        voices = [v for v, code in MBROLA_VOICES.items() if code == language]
        held = [v for v in voices if is_heldout("mbrola", v)]
        # A language with two or more speakers holds exactly one out; a speaker's English voice
        # ("de5-en") goes with its own (de5), so no held-out speaker is ever trained on.
        assert len(held) == (1 if len(voices) > 1 else 0), (language, held)
    for name in MBROLA_VOICES:
        assert is_heldout("mbrola", name) == is_heldout("mbrola", mbrola_database(name)) or \
            mbrola_database(name) not in MBROLA_VOICES, name


def test_a_missing_voice_says_how_to_install():
    with pytest.raises(EngineError, match="make_corpus --engines mbrola"):
        mbrola_synth("hello", Voice("mbrola", "us9"))


def _levels_db(audio: np.ndarray, start: float, end: float, hop: int = 80) -> np.ndarray:
    seg = audio[int(start * SR):int(end * SR)].astype(np.float64)
    n = len(seg) // hop
    return 10 * np.log10(np.mean(seg[:n * hop].reshape(n, hop) ** 2, axis=1) + 1e-12)


@pytest.mark.parametrize("name", MBROLA_ENGLISH)
def test_each_english_voice_synthesises_contiguous_phones_with_closures_in_its_stops(name):
    _need_mbrola()
    if name not in INSTALLED:
        pytest.skip(f"MBROLA voice {name} not installed")
    voice = Voice("mbrola", name, rate=1.0, pitch=50)
    audio, phones = synth_phrase("A baby bought a happy puppy a bubble.", voice)
    validate(phones, len(audio) / SR)
    labels = [p for p, _, _ in phones]
    assert labels.count("B") >= 4 and labels.count("P") >= 3, labels
    vowel_peak = max(_levels_db(audio, s, e).max() for p, s, e in phones if p in VOWELS and e - s > 0.02)
    for p, s, e in phones:
        if p in ("B", "P"):
            # The span starts at the closure: somewhere inside it the level is 15 dB under the vowels.
            assert _levels_db(audio, s, e).min() < vowel_peak - 15, (name, p, s)


def test_corpus_of_mbrola_voices_only(tmp_path):
    _need_mbrola()
    assert set(available_voices(("mbrola",))["mbrola"]) <= {v for v, code in MBROLA_VOICES.items() if code == "en"}
    build_corpus(str(tmp_path), hours=0.0, max_items=3, n_augment=1, engines=("mbrola",), progress=False)
    rows = read_manifest(str(tmp_path))
    assert len(rows) == 6 and {r["engine"] for r in rows} == {"mbrola"}
    assert {r["voice"] for r in rows} <= set(INSTALLED) and {r["split"] for r in rows} == {"train"}


def test_missing_syllabic_n_is_rendered_as_n_and_other_names_stay():
    from server.corpus.mbrola_phones import UNUSED_VOICES, renderable_score

    score = "b\t65\nV\t50\nt\t60\nn-\t70\n_\t100\n"
    assert renderable_score(score, "de1-en") == "b\t65\nV\t50\nt\t60\nn\t70\n_\t100\n"
    assert renderable_score(score, "us1") == score            # us1 has its syllabic n
    assert parse_pho(renderable_score(score, "de1-en"))[3] == ("n", 0.07)
    assert not UNUSED_VOICES & set(MBROLA_VOICES)


# One sentence per language with several p, b and m between vowels (as tests/test_corpus_festival.py).
NATIVE_SENTENCES = {"de": "Mama backt am Montag immer Brot mit Butter.", "fr": "Maman a acheté du pain et une pomme.",
                    "it": "La mamma ha comprato una pipa e un bambolotto per Paolo.",
                    "pt": "A mamãe comprou bolo e pão para o bebê.", "pl": "Mama kupiła bułkę i piękny bęben.",
                    "cs": "Maminka peče báječný chléb a tatínek pije pivo.",
                    "ar": "ذهب أبي إلى البحر مع أمي.", "ja": "ぼくは まいにち パンを たべます。"}


@pytest.mark.parametrize("language", sorted(NATIVE_SENTENCES))
def test_a_voice_of_each_other_language_synthesises_closures_at_its_bilabials(language):
    _need_mbrola()
    voices = [v for v in INSTALLED if MBROLA_VOICES[v] == language]
    if not voices:
        pytest.skip(f"no MBROLA voice of {language} installed")
    voice = Voice("mbrola", voices[0], rate=1.0, pitch=50)
    audio, phones = synth_phrase(NATIVE_SENTENCES[language], voice)
    validate(phones, len(audio) / SR)
    stops = [(p, s, e) for p, s, e in phones if p in ("B", "P")]
    assert len(stops) >= 2 and any(p == "M" for p, _, _ in phones), (voice.name, phones)
    vowel_peak = max(_levels_db(audio, s, e).max() for p, s, e in phones if p in VOWELS and e - s > 0.02)
    for p, s, e in stops:
        # A voiced b between vowels keeps its voice bar (br1: 12 dB under the vowels).
        assert _levels_db(audio, s, e).min() < vowel_peak - (15 if p == "P" else 10), (voice.name, p, s)
