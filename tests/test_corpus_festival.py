"""Debian's non-English festival voices in the corpus (Italian, Russian, Czech, Finnish): every
phone of their phone sets maps through IPA to ARPAbet, each installed voice synthesises with
contiguous phones and closed lips where its p/b/m are, held-out voices exist per language.
Voice tests skip when the voice's package is not installed (scripts/_env.sh FESTIVAL_LANGUAGE_APT_PACKAGES,
installed by scripts/make_corpus)."""
from __future__ import annotations

import numpy as np
import pytest

from server.audio import SAMPLE_RATE as SR
from server.corpus import text
from server.corpus.build import (FESTIVAL_LANGUAGES, HELDOUT_FESTIVAL, LANGUAGES, available_voices,
                                 build_corpus, is_heldout, language_voices, read_manifest,
                                 synth_phrase, voice_language)
from server.corpus.engines import (FESTIVAL_FOREIGN_VOICES, EngineError, Voice, festival_foreign_voices,
                                   festival_synth)
from server.corpus.festival_phones import PHONE_SET_IPA, PHONE_SET_SILENCES, festival_to_arpabet
from server.corpus.phones import UnknownPhone, to_arpabet, validate
from server.phones import NON_SPEECH, PHONES, STOPS

INSTALLED = festival_foreign_voices()
PACKAGES = {"pc_diphone": "festvox-itapc16k", "lp_diphone": "festvox-italp16k", "msu_ru_nsh_clunits": "festvox-ru",
            "czech_ph": "festvox-czech-ph", "czech_dita": "festvox-czech-dita",
            "czech_machac": "festvox-czech-machac", "czech_krb": "festvox-czech-krb",
            "suo_fi_lj_diphone": "festvox-suopuhe-lj", "hy_fi_mv_diphone": "festvox-suopuhe-mv"}
# One sentence per language with several p, b and m between vowels.
SENTENCES = {"it": "La mamma ha comprato una pipa e un bambolotto per Paolo.",
             "ru": "Папа купил белый хлеб, а мама пекла пироги.",
             "cs": "Maminka peče báječný chléb a tatínek pije pivo.",
             "fi": "Äiti paistoi pullaa ja isä osti pienen ampiaispesän."}


def _need(name: str) -> None:
    if name not in INSTALLED:
        pytest.skip(f"festival voice {name} not installed (apt-get install {PACKAGES[name]}; "
                    f"scripts/_env.sh FESTIVAL_LANGUAGE_APT_PACKAGES)")


def _frames_db(audio: np.ndarray, hop: int = 80) -> np.ndarray:
    n = len(audio) // hop
    x = audio[:n * hop].astype(np.float64).reshape(n, hop)
    return 10 * np.log10(np.mean(x ** 2, axis=1) + 1e-12)


def test_every_phone_of_every_phone_set_maps():
    for phone_set, table in PHONE_SET_IPA.items():
        for name in table:
            targets = festival_to_arpabet(name, phone_set)
            assert targets and set(targets) <= PHONES - {"SIL", "BR"}, (phone_set, name, targets)
        for name in PHONE_SET_SILENCES[phone_set]:
            assert festival_to_arpabet(name, phone_set) == ("SIL",)
    assert festival_to_arpabet("p", "italian") == ("P",) and festival_to_arpabet("bb", "msu_ru") == ("B",)
    assert festival_to_arpabet("m:", "finnish") == ("M",) and festival_to_arpabet("@", "finnish") == ("AE",)
    assert festival_to_arpabet("a1", "italian") == ("AA",) and festival_to_arpabet("c~", "czech") == ("CH",)
    with pytest.raises(UnknownPhone, match="qq"):
        festival_to_arpabet("qq", "czech")
    with pytest.raises(UnknownPhone, match="klingon"):
        festival_to_arpabet("a", "klingon")


def test_texts_fit_each_voice_encoding():
    """The Italian, Czech and Finnish front ends read 8-bit text: every sentence must encode."""
    for name, (language, encoding, _) in FESTIVAL_FOREIGN_VOICES.items():
        pool = text.sentences(language)
        assert len(pool) >= 60
        for sentence in pool:
            sentence.encode(encoding)


def test_languages_and_heldout_rule():
    assert set(FESTIVAL_LANGUAGES) == {"it", "ru", "cs", "fi"} and set(FESTIVAL_LANGUAGES) <= set(LANGUAGES)
    assert set(HELDOUT_FESTIVAL) <= set(FESTIVAL_FOREIGN_VOICES)
    for language in FESTIVAL_LANGUAGES:
        names = [n for n, (code, _, _) in FESTIVAL_FOREIGN_VOICES.items() if code == language]
        assert all(voice_language("festival", n) == language for n in names)
        if len(names) >= 2:                          # unseen speakers for evaluation, and some to train
            assert 1 <= sum(is_heldout("festival", n) for n in names) < len(names), language


def test_engine_spec_limits_languages():
    voices = available_voices(("festival", "espeak:cs+fi"), ("it", "ru", "cs", "fi"))
    assert {voice_language("espeak", n) for n in voices["espeak"]} == {"cs", "fi"}
    assert set(voices.get("festival", [])) == set(INSTALLED)
    english = available_voices(("espeak", "flite", "festival"))
    assert not set(english.get("festival", [])) & set(FESTIVAL_FOREIGN_VOICES)


def test_cli_help_and_engine_checks(capsys):
    from server.corpus.__main__ import main
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for name in HELDOUT_FESTIVAL:
        assert name in out
    assert "cs fi" in out and "ENGINE:CODE+CODE" in out
    for argv in (["--languages", "cs", "--engines", "flite"], ["--languages", "es", "--engines", "festival"],
                 ["--languages", "it", "--engines", "espeak:cs"], ["--engines", "pico"]):
        with pytest.raises(SystemExit):
            main(["--out", "/nonexistent/c", "--hours", "0.01"] + argv)
    assert "--languages" in capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(FESTIVAL_FOREIGN_VOICES))
def test_voice_synthesises_contiguous_mapped_phones(name):
    _need(name)
    language, _, phone_set = FESTIVAL_FOREIGN_VOICES[name]
    audio, raw = festival_synth(SENTENCES[language], Voice("festival", name))
    assert len(audio) > SR and np.max(np.abs(audio)) > 0.01
    assert raw[0][1] == 0.0 and abs(raw[-1][2] - len(audio) / SR) < 1e-6
    assert all(abs(raw[k][2] - raw[k + 1][1]) < 1e-9 for k in range(len(raw) - 1))
    for phone, _, _ in raw:
        assert set(festival_to_arpabet(phone, phone_set)) <= PHONES
    audio2, phones = synth_phrase(SENTENCES[language], Voice("festival", name))
    validate(phones, len(audio2) / SR)
    assert sum(p not in NON_SPEECH for p, _, _ in phones) >= 15


@pytest.mark.parametrize("name", sorted(FESTIVAL_FOREIGN_VOICES))
def test_bilabial_stops_start_at_their_closure(name):
    """Each P between speech phones holds its closure (a frame >= 12 dB below the phone before it)
    and, after synth_phrase's correction, the closure does not begin in the phone before it (its
    last 10 ms are not 30 dB below its loudest frame, unless it is down to the 15 ms minimum). Italian and Finnish stops already start at
    the closure: the correction moves none of them."""
    _need(name)
    language, _, phone_set = FESTIVAL_FOREIGN_VOICES[name]
    audio, raw = festival_synth(SENTENCES[language], Voice("festival", name))
    marked = to_arpabet(raw, lambda n: festival_to_arpabet(n, phone_set))
    assert sum(p in ("P", "B", "M") for p, _, _ in marked) >= 4
    audio, phones = synth_phrase(SENTENCES[language], Voice("festival", name))
    assert [p for p, _, _ in phones] == [p for p, _, _ in marked]
    db = _frames_db(audio)
    hop_s = 80 / SR
    checked = 0
    for i in range(1, len(phones) - 1):
        p, s, e = phones[i]
        if p != "P" or phones[i - 1][0] in NON_SPEECH:
            continue
        before = db[int(phones[i - 1][1] / hop_s):int(s / hop_s)]
        inside = db[int(s / hop_s):max(int(e / hop_s), int(s / hop_s) + 1)]
        assert before.max() - inside.min() >= 12, (name, i, before.max(), inside.min())
        # (unless the correction had to leave the phone before it its 15 ms minimum, or that
        # phone is itself a stop whose closure runs into this one: Czech "tatínek pije")
        assert (before.max() - before[-2:].max() < 30 or s - phones[i - 1][1] < 0.016
                or phones[i - 1][0] in STOPS), (name, i)
        if phone_set in ("italian", "finnish"):
            assert abs(s - marked[i][1]) < 0.006, (name, i, s, marked[i][1])
        checked += 1
    assert checked >= 2


def test_text_the_encoding_cannot_hold_is_an_engine_error():
    _need("suo_fi_lj_diphone")
    with pytest.raises(EngineError, match="iso-8859-1"):
        festival_synth("Žluťoučký kůň.", Voice("festival", "suo_fi_lj_diphone"))


def test_tiny_festival_build_has_languages_and_splits(tmp_path):
    languages = tuple(code for code in ("cs", "fi") if any(c == code for c in INSTALLED.values()))
    if not languages:
        pytest.skip("no Czech or Finnish festival voice installed (scripts/_env.sh FESTIVAL_LANGUAGE_APT_PACKAGES)")
    out = str(tmp_path / "fest")
    summary = build_corpus(out, hours=0, seed=3, n_augment=1, workers=1, engines=("festival",),
                           max_phrases=1, max_items=4, progress=False, bank_size=2, languages=languages)
    rows = read_manifest(out)
    assert len(rows) == 8 and {r["engine"] for r in rows} == {"festival"}
    for row in rows:
        assert row["language"] == voice_language("festival", row["voice"]) in languages
        assert row["split"] == ("heldout" if is_heldout("festival", row["voice"]) else "train")
    voices = available_voices(("festival",), languages)
    for code in languages:
        names = language_voices(voices, code)["festival"]
        assert all(voice_language("festival", n) == code for n in names)
    assert summary["heldout_rule"]["festival"] == list(HELDOUT_FESTIVAL)
