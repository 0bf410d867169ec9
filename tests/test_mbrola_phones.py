"""The MBROLA phone tables (server/corpus/mbrola_phones.py): pure table checks, no MBROLA needed.

INVENTORY is every phone name espeak-ng 1.51 wrote (`espeak-ng -v mb-<voice> -q --pho`) for each
voice reading the corpus text (English utterances for the "-en" voices, texts/<lang>.txt plus a few
rare-sound words for the native ones); voices with the same names share a line.
"""
from __future__ import annotations

import os
import re

import pytest

from server.corpus.ipa import parse_ipa
from server.corpus.mbrola_phones import (PHONE_SET_IPA, PHONE_SET_SILENCES, VOICE_LANGUAGE,
                                         VOICE_MISSING_PHONES, VOICE_PHONE_SET, mbrola_phone_ipa,
                                         mbrola_to_arpabet)
from server.corpus.phones import UnknownPhone
from server.corpus.text import TEXTS_DIR
from server.phones import BILABIALS, BREATH, PHONES, VOWELS

INVENTORY = {
    'de1-en de2-en de3-en':
        '6 @ E I N O OY R S U Z _ a a: aI aU b d e: f g h i: j k l m n n- o: p s t tS u: '
        'v x z',
    'de4-en':
        '6 ?@ ?EI @ @U D E EI I L N O OY R S T U Z _ a a: aI aU b d f g h i: j k l m n n- '
        'p r s t tS u: v w x z',
    'de5-en de6-en':
        '6 ? @ D E I N O OY R S T U Z _ a a: aI aU b d f g h i: j k l m n o: p s t tS u: '
        'v w x z',
    'fr1-en fr4-en': '9 @ E N O R S Z _ a b d f g i j k l m n n- o p s t u v w x z',
    'nl2-en':
        '2 @ A Au E Ei I J L N O S Z _ a b d dj f g h i j k l m n n- o p r s t tj u v w x '
        'z',
    'af1-en': '$ & ? @ A E N O _ a b d e f g h i j k l m n n- p r s t u v w x z {',
    'gr2-en': 'D R S T V X Y Z _ a b c d e f g i j k l m n n- o p q r s t u v x z',
    'hu1-en': '2 E O S Z _ a: b d dZ e: f g h i i: j k l m n n- o p r s t tS u u: v x z',
    'pl1-en': 'I N S Z _ a b d dZ e f g i j k l m n n- o p r s t tS u v w x z',
    'ro1-en': '@ C G J S T _ a b d e f g h i j k l m n n- o p r s t u v w z',
    'sw1-en':
        '2: @ A: E: I N O U _ a b d e f g h i: j k kh l m n n- o: p ph r rs s t th u0 u: '
        'v x',
    'sw2-en':
        '2: @ A: E: I N O U _ a b d e f g h i i: j k kh l m n n- o: p ph r s t th u0 u: v '
        'x',
    'de1 de2 de3':
        '2: 6 9 @ C E E: E~ I N O OY R S U Y _ a a: aI aU a~ b d e: f g h i: j k l m n o: '
        'p pf s t tS ts u: v x y: z',
    'de4':
        '2: 6 9 ?2: ?9 ?E ?I ?U ?a ?a: ?aI ?aU ?i: ?o: ?u: ?y: @ @U C E E: EI E~ I N O OY '
        'R S U Y _ a a: aI aU a~ b d e: f g h i: j k l m n o: p pf s t tS ts u: v x y: z',
    'de5':
        '2: 6 9 @ C E E: E~ I N O OY R S T U Y _ a a: aI aU a~ b d e: f g h i: j k l m n '
        'o: p pf s t tS ts u: v w x y: z',
    'de6 de7':
        '2: 6 9 ? @ C E E: E~ I N O OY R S T U Y _ a a: aI aU a~ b d e: f g h i: j k l m '
        'n o: p pf s t tS ts u: v w x y: z',
    'de8':
        '0 A A@ C E E2 I N O OY R S T U UR W~ Y Y: Z _ a aI aU b d dZ e eI f g h i j k l '
        'm n o: oU pF s t tS v x',
    'fr1 fr2 fr3 fr4 fr5 fr6 fr7':
        '2 9 9~ @ E N O R S Z _ a a~ b d e e~ f g i j k l m n o o~ p s t u v w y z',
    'es1 es2': 'J L T _ a b d e e/ f g i k l m n o o/ p r s t tS u w x',
    'es3': 'H J^ L R2 _ a aI aU b d dZ e eI f g h i j k l m n o oI p r s t tS u',
    'es4': 'J J^ L R2 T _ a aI aU b d dZ e eI f g i j jj k m n o oI p r s t tS u x',
    'mx1': 'J _ a b d dZ e e/ f g i jj k l l^ m n o o/ p r s t tS u w x',
    'mx2': '_ a b d dZ e e/ f g i j k l l^ m n ny o o/ p r s t tS u w',
    'it1 it2':
        'A A2 B D E E1 E2 F G I I2 J K L M N O1 O2 P R RR S T U U1 V VV W Z _ dZ dz j ss '
        'tS ts2',
    'it3 it4':
        'E1 J L O1 S _ a a1 b d dZ dz e e1 f g i i/ i1 j k l m n nf o o1 p r s ss t tS '
        'ts2 u u1 v w z',
    'br1 br2 br3':
        '@ _ a am b d e ee em f g h i im j k l m n nh o om oo p r r2 rr s s2 t u um v w x '
        'y z',
    'br4':
        '@ _ a an b d e ee en f g i in j k l lh m n nh o on oo p r r2 rr s s2 t u un v w '
        'x y z',
    'pt1': '6 6~ 6~j~ @ E J L R S Z _ a b d e f g i j k l m n o oo o~ p r s t u u~ v w z',
    'pl1':
        "E# I N S Z _ a b d dZ dz dz' e e~ f g i j k l m n n' o o~ p r s s' t tS ts ts' u "
        "v w x z z'",
    'cz1 cz2':
        "S Z _ a a: b d d' dZ dz e e: f h\\ i i: j k l m n n' o p r r' s t t' tS ts u u: v "
        'x z',
    'in1 in2':
        'D Dh N Q T Th _ a aa ai au a~ b bh c ch d dh e e~ f g gh h ii i~ j jh k kh l m n '
        'o p ph q r r. s sh t th uu v x y z',
    'ar1':
        '? D G H R S T X Z _ a a. b d d. f gH h i i. j k l m n q r s s. t t. u u. w x z '
        'z.',
    'ar2': '? D G H Q R S T X Z _ a a. b d d. f h i i. j k l m n q r s s. t t. u u. w x z z.',
    'jp1 jp2 jp3': 'N S U _ a b c d dZ e g h i j k m n o p r s t tS ts u v w z',
}
VOICE_INVENTORY = {voice: names.split() for voices, names in INVENTORY.items() for voice in voices.split()}
ALL_NAMES = [(s, name) for s, table in PHONE_SET_IPA.items()
             for name in (*table, *PHONE_SET_SILENCES[s])]


def _bilabial_segments(ipa: str) -> int:
    """How many segments of `ipa` close the lips: bilabial stops and nasals, and the stop half of
    a labiodental affricate ([pf] [bv])."""
    return sum(1 for seg in parse_ipa(ipa.replace("ʱ", "ʰ")) if seg.kind == "consonant" and (
        (seg.features[0] == "bilabial" and seg.features[1] in ("stop", "nasal", "trill"))
        or seg.symbol in ("pf", "bv")))


@pytest.mark.parametrize("phone_set,name", ALL_NAMES)
def test_every_name_of_every_set_maps_to_teacher_phones(phone_set, name):
    targets = mbrola_to_arpabet(name, phone_set)
    assert isinstance(targets, tuple) and targets
    assert set(targets) <= PHONES - {BREATH}
    if name in PHONE_SET_SILENCES[phone_set]:
        assert targets == ("SIL",)
    else:
        assert "SIL" not in targets


def test_every_voice_has_a_set_a_language_and_its_inventory_is_covered():
    assert set(VOICE_INVENTORY) == set(VOICE_PHONE_SET)
    assert set(VOICE_PHONE_SET.values()) == set(PHONE_SET_IPA) == set(PHONE_SET_SILENCES)
    for voice, phone_set in VOICE_PHONE_SET.items():
        language = VOICE_LANGUAGE[voice]
        assert language == "en" if voice.endswith("-en") else language != "en"
        assert language == "en" or os.path.isfile(os.path.join(TEXTS_DIR, f"{language}.txt"))
        assert "_" in PHONE_SET_SILENCES[phone_set]
        for name in VOICE_INVENTORY[voice]:
            assert mbrola_to_arpabet(name, phone_set), (voice, name)
    assert VOICE_LANGUAGE["mx1"] == "es" and VOICE_LANGUAGE["br4"] == VOICE_LANGUAGE["pt1"] == "pt"
    assert VOICE_LANGUAGE["cz1"] == "cs" and VOICE_LANGUAGE["in2"] == "hi"
    assert VOICE_LANGUAGE["jp3"] == "ja" and VOICE_LANGUAGE["sw2-en"] == "en"


def test_missing_phones_are_names_of_the_voice():
    for voice, names in VOICE_MISSING_PHONES.items():
        assert voice in VOICE_PHONE_SET
        assert names <= set(VOICE_INVENTORY[voice]) and names <= set(PHONE_SET_IPA[VOICE_PHONE_SET[voice]])


@pytest.mark.parametrize("phone_set,name", [(s, n) for s, n in ALL_NAMES if n not in PHONE_SET_SILENCES[s]])
def test_lips_close_exactly_for_bilabials(phone_set, name):
    """Each bilabial stop or nasal in a name's IPA gives one P/B/M, and nothing else does."""
    ipa = mbrola_phone_ipa(name, phone_set)
    closures = [t for t in mbrola_to_arpabet(name, phone_set) if t in BILABIALS]
    assert len(closures) == _bilabial_segments(ipa), (phone_set, name, ipa)


def test_p_b_m_names_and_their_variants_are_bilabial():
    variant = re.compile(r"^([pbmPBM])(\1|h|:|')?$")
    seen = 0
    for phone_set, name in ALL_NAMES:
        if variant.match(name):
            seen += 1
            assert mbrola_to_arpabet(name, phone_set) in (("P",), ("B",), ("M",)), (phone_set, name)
    assert seen > 60
    assert mbrola_to_arpabet("PP", "it12") == ("P",) and mbrola_to_arpabet("MM", "it12") == ("M",)
    assert mbrola_to_arpabet("ph", "hi") == ("P",) and mbrola_to_arpabet("bh", "hi") == ("B",)
    assert mbrola_to_arpabet("ph", "sw_en") == ("P",) and mbrola_to_arpabet("M", "gr_en") == ("M",)
    assert mbrola_to_arpabet("Y", "gr_en") == ("P", "S")        # Greek [ps] is one gr2 unit


@pytest.mark.parametrize("phone_set,names", [
    ("br", "am em im om um"), ("br4", "an en in on un"), ("pt", "6~ e~ i~ o~ u~"),
    ("fr", "a~ e~ o~ 9~"), ("pl", "e~ o~"), ("hi", "a~ e~ i~"), ("ja", "U")])
def test_nasal_vowels_are_vowels(phone_set, names):
    for name in names.split():
        targets = mbrola_to_arpabet(name, phone_set)
        assert targets and set(targets) <= set(VOWELS), (phone_set, name, targets)
    if phone_set in ("br", "br4"):
        assert [mbrola_to_arpabet(n, phone_set) for n in names.split()] == [
            ("AH",), ("EY",), ("IY",), ("OW",), ("UW",)]


def test_decided_symbols():
    assert mbrola_to_arpabet("pf", "de") == mbrola_to_arpabet("pF", "de8") == ("P", "F")
    assert mbrola_to_arpabet("nf", "it34") == ("V",)                     # [ɱ]: lip to teeth
    assert mbrola_to_arpabet("n-", "de_en") == mbrola_to_arpabet("n-", "sw_en") == ("N",)
    for glottal, vowel in (("?a", "a"), ("?E", "E"), ("?aI", "aI"), ("?y:", "y:"), ("?9", "9")):
        assert mbrola_to_arpabet(glottal, "de") == mbrola_to_arpabet(vowel, "de")
    assert mbrola_to_arpabet("?", "de") == ("T",)                        # a bare glottal stop
    assert mbrola_to_arpabet("J", "it12") == ("Y",) and mbrola_to_arpabet("J", "it34") == ("N",)
    assert mbrola_to_arpabet("j", "br") == ("ZH",) and mbrola_to_arpabet("x", "br") == ("SH",)
    assert mbrola_to_arpabet("h", "br") == ("L",) and mbrola_to_arpabet("h", "br4") == ("HH",)
    assert mbrola_to_arpabet("j", "mx") == ("K",) and mbrola_to_arpabet("S", "gr_en") == ("T", "S")
    assert mbrola_to_arpabet("R", "de") == mbrola_to_arpabet("R", "fr") == ("HH",)   # uvular


def test_case_matters():
    assert mbrola_to_arpabet("S", "de") != mbrola_to_arpabet("s", "de")
    assert mbrola_to_arpabet("E", "fr") != mbrola_to_arpabet("e", "fr")
    with pytest.raises(UnknownPhone):
        mbrola_to_arpabet("A", "de")


def test_unknown_name_or_set_raises():
    with pytest.raises(UnknownPhone, match=r"de.*'Q'"):
        mbrola_to_arpabet("Q", "de")
    with pytest.raises(UnknownPhone, match="nosuchset"):
        mbrola_to_arpabet("a", "nosuchset")
    with pytest.raises(UnknownPhone):
        mbrola_to_arpabet("a", "cn1")
    with pytest.raises(UnknownPhone):
        mbrola_to_arpabet("", "fr")

