"""Corpus builder: plan (seeded), synthesise, augment, write items, manifest, resume.

Item index i is fully determined by (seed, i): text, voice, prosody, pauses and augmentation.
The corpus is the shortest prefix of items whose clean audio reaches the requested hours, so a
build is reproducible from (seed, hours) whatever the worker count. Workers write item files
(temp file + rename); only the main process appends to manifest.jsonl, in index order, so an
interrupted build leaves a valid manifest and a rerun skips the items it lists.
"""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import sys
import time
from dataclasses import asdict

import numpy as np
import soundfile as sf

from . import augment, ipa, text
from . import mbrola_phones
from .engines import (FESTIVAL_FOREIGN_VOICES, MBROLA_ENGLISH, MBROLA_VOICES, SAMPLE_RATE, EngineError, Voice,
                      festival_foreign_voices, festival_voices, flite_voices, mbrola_voices, synth)
from .festival_phones import festival_to_arpabet
from .phones import (RHOTIC_ESPEAK_ACCENTS, UNROUNDED_LOT_ESPEAK_ACCENTS, Phones, UnknownPhone,
                     absorb_short_pauses, cmu_to_arpabet, correct_stop_closures,
                     espeak_to_arpabet, mbrola_to_arpabet, merge_silences, shift, to_arpabet, validate)

FORMAT_VERSION = 1
ESPEAK_ACCENTS = ["en", "en-us", "en-gb-x-rp", "en-gb-scotland", "en-029", "en-gb-x-gbclan",
                  "en-gb-x-gbcwmd", "en-us-nyc"]
ESPEAK_VARIANTS = ["", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5",
                   "klatt", "klatt2", "klatt3", "klatt4", "klatt6", "adam", "Alex", "Andy", "Annie",
                   "aunty", "boris", "david", "ed", "edward", "iven", "iven2", "john", "linda", "max",
                   "michael", "norbert", "paul", "quincy", "rob", "robert", "steph", "travis", "victor",
                   "belinda", "benjamin", "caleb", "grandma", "grandpa", "Lee", "Mike", "anika", "shelby"]
# Voices never used for training: evaluation on unseen synthetic speakers.
HELDOUT_ESPEAK_VARIANTS = ("m2", "f3")
HELDOUT_FLITE = ("rms",)
# One festival voice of each non-English language with two or more (Italian lp, Czech machac,
# Finnish mv; Russian has one festival voice, msu, which trains).
HELDOUT_FESTIVAL = ("lp_diphone", "czech_machac", "hy_fi_mv_diphone")
# MBROLA: one speaker's database of each language with several used (mbrola_phones.UNUSED_VOICES
# are not), as a voice of its own and reading English: German de5, French fr4, Italian it4,
# Brazilian br2, Arabic ar2, Japanese jp2. The four English voices all train: they are the recorded
# English speakers closest to real speech, and real speech (scripts/evaluate --real) is their test.
HELDOUT_MBROLA = ("de5", "de5-en", "fr4", "fr4-en", "it4", "br2", "ar2", "jp2")
# The languages MBROLA voices speak in the corpus (their own, and English for the "-en" voices).
MBROLA_LANGUAGES = tuple(sorted(set(MBROLA_VOICES.values())))
# Corpus languages beyond English: code -> espeak-ng voice. English ("en") is ESPEAK_ACCENTS plus
# flite and festival, mapped by the English tables; the others map through server.corpus.ipa.
ESPEAK_LANGUAGES = {"es": "es", "fr": "fr", "de": "de", "it": "it", "pt": "pt-br", "ru": "ru",
                    "pl": "pl", "hi": "hi", "cmn": "cmn-latn-pinyin", "ja": "ja", "ar": "ar",
                    "sw": "sw", "cs": "cs", "fi": "fi"}
# Languages with Debian festival voices too (engines.FESTIVAL_FOREIGN_VOICES: it ru cs fi), mapped
# through their phone sets (server.corpus.festival_phones) and the same IPA features.
FESTIVAL_LANGUAGES = tuple(sorted({code for code, _, _ in FESTIVAL_FOREIGN_VOICES.values()}))
LANGUAGES = ("en",) + tuple(ESPEAK_LANGUAGES) + tuple(c for c in FESTIVAL_LANGUAGES if c not in ESPEAK_LANGUAGES)
ENGINES = ("espeak", "flite", "festival", "mbrola")
# Share of a non-English language's items spoken by its held-out voices (English: 2 of 51 espeak
# variants and flite rms, by the voice draw).
FOREIGN_HELDOUT_SHARE = 0.1
ENGINE_WEIGHTS = {"espeak": 0.55, "flite": 0.30, "festival": 0.15, "mbrola": 0.30}
BABBLE_BANK_ITEMS = 16


def parse_engines(engines) -> dict[str, tuple[str, ...] | None]:
    """Engine specs -> {engine: the languages it may speak (None: all)}. A spec is an engine name,
    or `engine:code+code` to use that engine for those languages only (e.g. "espeak:cs+fi")."""
    out: dict[str, tuple[str, ...] | None] = {}
    for spec in engines:
        name, _, codes = spec.partition(":")
        if name not in ENGINES:
            raise ValueError(f"unknown engines [{name!r}]; choose from {', '.join(ENGINES)}")
        out[name] = tuple(c for c in codes.split("+") if c) if codes else None
    return out


def language_engines(code: str) -> tuple[str, ...]:
    """The engines that have voices for corpus language `code`."""
    if code == "en":
        return ENGINES
    return tuple(e for e, ok in (("espeak", code in ESPEAK_LANGUAGES),
                                 ("festival", code in FESTIVAL_LANGUAGES),
                                 ("mbrola", code in MBROLA_LANGUAGES)) if ok)


def available_voices(engines: tuple[str, ...], languages: tuple[str, ...] = ("en",)) -> dict[str, list[str]]:
    """Voices by engine. English-only: today's English voices; with other languages, their espeak
    voices (every variant) follow the English ones in the espeak list, and their festival voices
    (it ru cs fi) the English festival voices."""
    spec = parse_engines(engines)
    allowed = lambda engine, code: engine in spec and (spec[engine] is None or code in spec[engine])
    voices: dict[str, list[str]] = {}
    if "espeak" in spec:
        bases = (ESPEAK_ACCENTS if allowed("espeak", "en") and "en" in languages else []) + [
            ESPEAK_LANGUAGES[code] for code in languages
            if code != "en" and code in ESPEAK_LANGUAGES and allowed("espeak", code)]
        voices["espeak"] = [a + ("+" + v if v else "") for a in bases for v in ESPEAK_VARIANTS]
    english = "en" in languages
    if english and allowed("flite", "en"):
        voices["flite"] = [v for v in flite_voices() if v != "awb_time"]
    if "festival" in spec:
        names = festival_voices() if english and allowed("festival", "en") else []
        names += [n for n, code in festival_foreign_voices().items()
                  if code in languages and allowed("festival", code)]
        voices["festival"] = names
    if "mbrola" in spec:
        voices["mbrola"] = [v for v in mbrola_voices()
                            if MBROLA_VOICES[v] in languages and allowed("mbrola", MBROLA_VOICES[v])]
    return {k: v for k, v in voices.items() if v}


def voice_language(engine: str, name: str) -> str:
    """The corpus language code of a voice."""
    if engine == "espeak":
        base = name.split("+", 1)[0]
        for code, voice in ESPEAK_LANGUAGES.items():
            if base == voice:
                return code
    if engine == "festival" and name in FESTIVAL_FOREIGN_VOICES:
        return FESTIVAL_FOREIGN_VOICES[name][0]
    if engine == "mbrola":
        return MBROLA_VOICES[name]
    return "en"


def language_voices(voices: dict[str, list[str]], language: str) -> dict[str, list[str]]:
    """The voices of one language (English: every engine's English voices)."""
    out = {e: [n for n in names if voice_language(e, n) == language] for e, names in voices.items()}
    return {e: names for e, names in out.items() if names}


def is_heldout(engine: str, name: str) -> bool:
    if engine == "espeak":
        return "+" in name and name.split("+", 1)[1] in HELDOUT_ESPEAK_VARIANTS
    if engine == "flite":
        return name in HELDOUT_FLITE
    if engine == "mbrola":
        return name in HELDOUT_MBROLA
    return name in HELDOUT_FESTIVAL


def draw_voice(rng: np.random.Generator, voices: dict[str, list[str]]) -> Voice:
    engines = sorted(voices)
    weights = np.array([ENGINE_WEIGHTS[e] for e in engines])
    engine = engines[int(rng.choice(len(engines), p=weights / weights.sum()))]
    names = voices[engine]
    name = names[int(rng.integers(0, len(names)))]
    if engine == "espeak":
        return Voice(engine, name, rate=float(rng.uniform(0.75, 1.45)),
                     pitch=float(rng.uniform(25, 75)), pitch_range=float(rng.uniform(20, 95)),
                     word_gap=int(rng.choice([0, 0, 0, 1, 2, 4])))
    if engine == "flite":
        male = name in ("kal", "kal16", "awb", "rms")
        mean = rng.uniform(85, 150) if male else rng.uniform(150, 230)
        return Voice(engine, name, rate=float(rng.uniform(0.8, 1.3)), pitch=float(mean),
                     pitch_range=float(rng.uniform(5, 35)))
    if engine == "mbrola":   # espeak-ng's prosody settings drive the score (pitch 0-100)
        return Voice(engine, name, rate=float(rng.uniform(0.7, 1.25)), pitch=float(rng.uniform(25, 75)),
                     pitch_range=50.0, word_gap=int(rng.choice([0, 0, 0, 1, 2, 4])))
    if name in FESTIVAL_FOREIGN_VOICES:
        if FESTIVAL_FOREIGN_VOICES[name][2] == "czech":   # czech.scm's simple contours take a mean
            female = name == "czech_dita"
            mean = rng.uniform(170, 250) if female else rng.uniform(90, 150)
            return Voice(engine, name, rate=float(rng.uniform(0.8, 1.3)), pitch=float(mean),
                         pitch_range=float(rng.uniform(4, 25)))
        # msu_ru_nsh_clunits concatenates recorded units at their own length: Duration_Stretch
        # does nothing there, so its rate stays 1.
        rate = 1.0 if name.endswith("_clunits") else float(rng.uniform(0.8, 1.3))
        return Voice(engine, name, rate=rate, pitch=0.0, pitch_range=0.0)
    if name.endswith("_diphone"):
        return Voice(engine, name, rate=float(rng.uniform(0.8, 1.3)), pitch=float(rng.uniform(85, 150)),
                     pitch_range=float(rng.uniform(6, 30)))
    return Voice(engine, name, rate=float(rng.uniform(0.8, 1.3)), pitch=0.0, pitch_range=0.0)


def breath(rng: np.random.Generator, seconds: float, level: float) -> np.ndarray:
    """An inhalation: band-passed noise with a soft rise and quicker fall."""
    n = int(seconds * SAMPLE_RATE)
    noise = augment.coloured_noise("pink", n, rng)
    spec = np.fft.rfft(noise)
    f = np.fft.rfftfreq(n, 1 / SAMPLE_RATE)
    centre = rng.uniform(900, 2500)
    spec *= np.exp(-0.5 * (np.log(np.maximum(f, 1) / centre) / 0.7) ** 2)
    shaped = np.fft.irfft(spec, n)
    rise = int(n * rng.uniform(0.5, 0.75))
    env = np.concatenate([np.sin(np.linspace(0, np.pi / 2, rise)) ** 2,
                          np.cos(np.linspace(0, np.pi / 2, n - rise)) ** 2])
    shaped *= env
    return (shaped / max(np.max(np.abs(shaped)), 1e-9) * level).astype(np.float32)


def synth_phrase(phrase: str, voice: Voice) -> tuple[np.ndarray, Phones]:
    language = voice_language(voice.engine, voice.name)
    audio, raw = synth(phrase, voice, ipa=language != "en" and voice.engine == "espeak")
    duration = len(audio) / SAMPLE_RATE
    if voice.engine == "mbrola":
        # The score's stop segments hold the closure and end after the release (checked on the
        # waveform: 10 ms into a b or p the level has fallen 15-20 dB), so no correction.
        if voice.name in MBROLA_ENGLISH:
            phones = to_arpabet(raw, mbrola_to_arpabet)
        else:   # another language's SAMPA, or English phonemes in another language's database
            phone_set = mbrola_phones.VOICE_PHONE_SET[voice.name]
            phones = to_arpabet(raw, lambda n: mbrola_phones.mbrola_to_arpabet(n, phone_set))
    elif voice.engine == "festival" and language != "en":
        # Debian's Italian/Russian/Czech/Finnish festival voices: their phone set -> IPA -> ARPAbet.
        # Their stop segments hold the closure and end at the release, but some Czech and Russian
        # stops start 10-40 ms after the closure began, and a stop after a pause gets none of the
        # silence before it (measured on the waveform, docs/TEACHER.md): the same correction as
        # espeak's, which moves a start only over quiet frames.
        phone_set = FESTIVAL_FOREIGN_VOICES[voice.name][2]
        phones = to_arpabet(raw, lambda n: festival_to_arpabet(n, phone_set))
        phones = correct_stop_closures(phones, audio, SAMPLE_RATE)
    elif language != "en":
        # Other languages: espeak's IPA through articulatory features (server.corpus.ipa).
        phones = to_arpabet(raw, lambda n: ipa.espeak_to_arpabet(n, language))
        phones = correct_stop_closures(phones, audio, SAMPLE_RATE)
    elif voice.engine == "espeak":
        accent = voice.name.split("+", 1)[0]
        rhotic = accent in RHOTIC_ESPEAK_ACCENTS
        rounded_lot = accent not in UNROUNDED_LOT_ESPEAK_ACCENTS
        phones = to_arpabet(raw, lambda n: espeak_to_arpabet(n, rhotic=rhotic, rounded_lot=rounded_lot))
        # espeak marks voiceless stops at the release: give them their closure (FINDINGS).
        phones = correct_stop_closures(phones, audio, SAMPLE_RATE)
    else:
        # flite/festival stop segments already start at the closure (checked on the waveform).
        phones = to_arpabet(raw, cmu_to_arpabet)
    phones = absorb_short_pauses(phones)
    phones[-1] = (phones[-1][0], phones[-1][1], duration)
    return audio, phones


def make_clean(index: int, seed: int, voices: dict[str, list[str]], *, max_phrases: int = 4,
               attempt: int = 0, languages: tuple[str, ...] = ("en",)) -> tuple[np.ndarray, Phones, dict]:
    """Synthesise base item `index`: phrases with pauses and breaths, leading/trailing silence.

    English-only corpora draw exactly as before languages existed (same items for a seed); with
    several languages the item's language is drawn first, evenly among them."""
    rng = np.random.default_rng([seed, index, 1] + ([attempt] if attempt else []))
    if tuple(languages) == ("en",):
        language = "en"
        voice = draw_voice(rng, voices)
        phrases = text.utterance(rng, max_phrases=max_phrases)
    else:
        language = languages[int(rng.integers(0, len(languages)))]
        lang_voices = language_voices(voices, language)
        if language != "en":
            # A fixed share of held-out voices, so every language has held-out items to evaluate.
            heldout = bool(rng.random() < FOREIGN_HELDOUT_SHARE)
            split_voices = {e: [n for n in names if is_heldout(e, n) == heldout]
                            for e, names in lang_voices.items()}
            # A language with no held-out voice (e.g. Russian festival only) draws from its others.
            lang_voices = {e: names for e, names in split_voices.items() if names} or lang_voices
        voice = draw_voice(rng, lang_voices)
        if language == "en":
            phrases = text.utterance(rng, max_phrases=max_phrases)
        else:
            phrases = text.foreign_utterance(rng, language, max_phrases=max_phrases)
    pieces: list[np.ndarray] = []
    phones: Phones = []
    t = 0.0

    def add(audio: np.ndarray, spans: Phones) -> None:
        nonlocal t
        pieces.append(audio)
        phones.extend(shift(spans, t))
        t += len(audio) / SAMPLE_RATE

    def silence(seconds: float) -> None:
        n = int(round(seconds * SAMPLE_RATE))
        if n > 0:
            add(np.zeros(n, np.float32), [("SIL", 0.0, n / SAMPLE_RATE)])

    silence(rng.uniform(0.15, 0.7))
    peak = 0.0
    for k, phrase in enumerate(phrases):
        phrase_voice = Voice(**{**asdict(voice), "rate": voice.rate * float(rng.uniform(0.93, 1.07))})
        audio, spans = synth_phrase(phrase, phrase_voice)
        peak = max(peak, float(np.max(np.abs(audio))))
        if k:
            if rng.random() < 0.35:
                silence(rng.uniform(0.04, 0.15))
                b = breath(rng, rng.uniform(0.22, 0.5), level=peak * 10 ** (rng.uniform(-34, -22) / 20))
                add(b, [("BR", 0.0, len(b) / SAMPLE_RATE)])
                silence(rng.uniform(0.04, 0.2))
            else:
                silence(rng.uniform(0.1, 0.8))
        add(audio, spans)
    silence(rng.uniform(0.2, 0.8))
    audio = np.concatenate(pieces)
    audio *= 10 ** (-3 / 20) / max(float(np.max(np.abs(audio))), 1e-9)
    phones = merge_silences(phones)
    duration = len(audio) / SAMPLE_RATE
    phones[-1] = (phones[-1][0], phones[-1][1], duration)
    info = {"text": " | ".join(phrases), "language": language, "engine": voice.engine, "voice": voice.name,
            "voice_params": asdict(voice),
            "split": "heldout" if is_heldout(voice.engine, voice.name) else "train"}
    return audio, phones, info


# ------------------------------------------------------------------------------------- files
def _atomic_write_wav(path: str, audio: np.ndarray) -> None:
    tmp = path + ".tmp.wav"
    sf.write(tmp, audio, SAMPLE_RATE, subtype="PCM_16")
    os.replace(tmp, path)


def _atomic_write_json(path: str, obj: dict) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.replace(tmp, path)


def _pcm16(audio: np.ndarray) -> np.ndarray:
    """What the wav file will hold, so augmentation of a fresh and a resumed item is identical."""
    return (np.round(np.clip(audio, -1, 32767 / 32768) * 32768) / 32768).astype(np.float32)


def _round_phones(phones: Phones) -> list[list]:
    return [[p, round(s, 5), round(e, 5)] for p, s, e in phones]


def build_item(index: int, seed: int, voices: dict[str, list[str]], out_dir: str, n_augment: int,
               bank: list[np.ndarray], max_phrases: int = 4,
               languages: tuple[str, ...] = ("en",)) -> list[dict]:
    """Write base item `index` clean plus `n_augment` augmented renderings; return manifest rows."""
    items_dir = os.path.join(out_dir, "items")
    for attempt in range(4):
        # A text/voice draw an engine cannot render is replaced by the next draw (still seeded).
        try:
            audio, phones, info = make_clean(index, seed, voices, max_phrases=max_phrases, attempt=attempt,
                                             languages=languages)
            audio = _pcm16(audio)
            validate(phones, len(audio) / SAMPLE_RATE)
            break
        except (EngineError, UnknownPhone, ValueError) as exc:
            print(f"item {index} attempt {attempt}: {exc}", file=sys.stderr)
            if attempt == 3:
                raise
    source_id = f"{index:06d}_clean"
    rows = []
    renderings = [(source_id, audio, phones, None)]
    # Babble must be other utterances: drop this item's own audio from the bank.
    others = [b for k, b in enumerate(bank) if k != index]
    for k in range(1, n_augment + 1):
        rng = np.random.default_rng([seed, index, 2, k])
        params = augment.draw(rng, babble_available=bool(others))
        a_audio, a_phones = augment.apply(audio, list(phones), params, others)
        a_audio = _pcm16(a_audio)
        validate(a_phones, len(a_audio) / SAMPLE_RATE)
        renderings.append((f"{index:06d}_aug{k}", a_audio, a_phones, params))
    for item_id, a, ph, params in renderings:
        meta = {"id": item_id, "index": index, "text": info["text"], "language": info["language"],
                "engine": info["engine"],
                "voice": info["voice"], "voice_params": info["voice_params"], "augment": params,
                "source_id": source_id, "split": info["split"], "duration": round(len(a) / SAMPLE_RATE, 5),
                "phones": _round_phones(ph)}
        _atomic_write_wav(os.path.join(items_dir, item_id + ".wav"), a)
        _atomic_write_json(os.path.join(items_dir, item_id + ".json"), meta)
        rows.append({k: v for k, v in meta.items() if k not in ("phones", "voice_params")}
                    | {"wav": f"items/{item_id}.wav", "json": f"items/{item_id}.json"})
    return rows


# ------------------------------------------------------------------------------------- build
_WORKER: dict = {}


def _worker_init(config: dict) -> None:
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)      # the parent handles Ctrl-C
    _WORKER.update(config)
    _WORKER["bank"] = _load_bank(config["out_dir"])


def _worker_run(index: int) -> list[dict]:
    c = _WORKER
    return build_item(index, c["seed"], c["voices"], c["out_dir"], c["n_augment"], c["bank"],
                      c["max_phrases"], c["languages"])


def _load_bank(out_dir: str) -> list[np.ndarray]:
    path = os.path.join(out_dir, "babble_bank.npz")
    if not os.path.exists(path):
        return []
    with np.load(path) as z:
        return [z[k] for k in sorted(z.files, key=lambda s: int(s.split("_")[1]))]


def _make_bank(out_dir: str, seed: int, voices: dict, max_phrases: int, size: int,
               languages: tuple[str, ...] = ("en",)) -> list[np.ndarray]:
    """Babble sources: the clean audio of the corpus's first items (deterministic from the seed)."""
    path = os.path.join(out_dir, "babble_bank.npz")
    if os.path.exists(path):
        return _load_bank(out_dir)
    bank = [_pcm16(make_clean(i, seed, voices, max_phrases=max_phrases, languages=languages)[0])
            for i in range(size)]
    tmp = path + ".tmp.npz"
    np.savez(tmp, **{f"item_{i}": b for i, b in enumerate(bank)})
    os.replace(tmp, path)
    return bank


def read_manifest(out_dir: str) -> list[dict]:
    path = os.path.join(out_dir, "manifest.jsonl")
    rows = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    break                               # a torn last line from a hard kill
    return rows


def _summary(rows: list[dict]) -> dict:
    hours: dict = {"clean": 0.0, "total": 0.0, "by_split": {}, "by_engine": {}, "by_voice": {},
                   "by_language": {}, "by_language_split": {}}
    for r in rows:
        h = r["duration"] / 3600
        hours["total"] += h
        if r["augment"] is None:
            hours["clean"] += h
        language = r.get("language", "en")
        for key, name in (("by_split", r["split"]), ("by_engine", r["engine"]),
                          ("by_voice", f"{r['engine']}:{r['voice']}"), ("by_language", language),
                          ("by_language_split", f"{language}:{r['split']}")):
            hours[key][name] = hours[key].get(name, 0.0) + h
    rnd = lambda d: {k: (round(v, 4) if isinstance(v, float) else rnd(v)) for k, v in d.items()}
    return rnd(hours)


def build_corpus(out_dir: str, *, hours: float, seed: int = 0, n_augment: int = 2, workers: int = 1,
                 engines: tuple[str, ...] = ("espeak", "flite", "festival"), max_phrases: int = 4,
                 max_items: int | None = None, progress: bool = True, bank_size: int = BABBLE_BANK_ITEMS,
                 languages: tuple[str, ...] = ("en",)) -> dict:
    """Build (or resume) a corpus in out_dir with `hours` of clean audio; returns the summary."""
    if hours <= 0 and not max_items:
        raise ValueError("--hours must be positive")
    os.makedirs(os.path.join(out_dir, "items"), exist_ok=True)
    languages = tuple(languages)
    unknown = [code for code in languages if code not in LANGUAGES]
    if unknown or not languages:
        raise ValueError(f"unknown languages {unknown}; choose from {', '.join(LANGUAGES)}")
    engines = tuple(engines)
    parse_engines(engines)
    voices = available_voices(engines, languages)
    silent = [code for code in languages if not language_voices(voices, code)]
    if silent:
        raise EngineError(f"no installed voice of the engines {engines} speaks {silent} "
                          f"(espeak: {', '.join(ESPEAK_LANGUAGES)}; festival also "
                          f"{', '.join(FESTIVAL_LANGUAGES)}: scripts/_env.sh FESTIVAL_LANGUAGE_APT_PACKAGES)")
    if not voices:
        raise EngineError(f"none of the engines {engines} is installed (apt-get install espeak-ng flite festival)")
    config = {"format": FORMAT_VERSION, "seed": seed, "hours": hours, "n_augment": n_augment,
              "engines": list(engines), "max_phrases": max_phrases, "max_items": max_items,
              "sample_rate": SAMPLE_RATE, "languages": list(languages)}
    corpus_json = os.path.join(out_dir, "corpus.json")
    if os.path.exists(corpus_json):
        with open(corpus_json) as f:
            old = json.load(f)["config"]
        old.setdefault("languages", ["en"])           # corpora from before languages existed
        for key in ("seed", "n_augment", "engines", "max_phrases", "format", "languages"):
            if old.get(key) != config[key]:
                raise ValueError(f"{out_dir} holds a corpus built with {key}={old.get(key)!r}, not "
                                 f"{config[key]!r}; use another --out or the same settings to resume/extend")
        if old.get("voices") and old["voices"] != voices:
            print(f"warning: installed voices differ from those {out_dir} was started with",
                  file=sys.stderr)
    heldout = sorted(f"{e}:{v}" for e, names in voices.items() for v in names if is_heldout(e, v))
    code_version = _code_version()

    def write_summary(rows: list[dict], finished: bool) -> dict:
        summary = {"config": config, "code_version": code_version, "voices": voices, "heldout_voices": heldout,
                   "heldout_rule": {"espeak_variants": list(HELDOUT_ESPEAK_VARIANTS),
                                    "flite": list(HELDOUT_FLITE), "festival": list(HELDOUT_FESTIVAL),
                                    "mbrola": list(HELDOUT_MBROLA)},
                   "finished": finished, "base_items": len({r["index"] for r in rows}),
                   "items": len(rows), "hours": _summary(rows)}
        _atomic_write_json(corpus_json, summary)
        return summary

    rows = read_manifest(out_dir)
    # Keep only base items whose clean and augmented rows are all listed (a kill between lines).
    counts: dict[int, int] = {}
    for r in rows:
        counts[r["index"]] = counts.get(r["index"], 0) + 1
    rows = [r for r in rows if counts[r["index"]] == 1 + n_augment]
    # Rewrite the manifest from its valid rows: a hard kill may have left a torn last line.
    manifest_path = os.path.join(out_dir, "manifest.jsonl")
    with open(manifest_path + ".tmp", "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    os.replace(manifest_path + ".tmp", manifest_path)
    write_summary(rows, False)
    bank = _make_bank(out_dir, seed, voices, max_phrases, bank_size, languages) if n_augment else []
    done = {r["index"] for r in rows}
    by_index: dict[int, float] = {}
    for r in rows:
        if r["augment"] is None:
            by_index[r["index"]] = r["duration"]
    target = hours * 3600
    next_index = 0
    clean = 0.0
    # Walk the already-finished prefix.
    while next_index in done and next_index in by_index and not _reached(clean, target, next_index, max_items):
        clean += by_index[next_index]
        next_index += 1
    if _reached(clean, target, next_index, max_items):
        return write_summary(rows, True)

    from tqdm import tqdm
    bar = tqdm(total=round(target / 60, 1) if not max_items else max_items, initial=round(clean / 60, 1) if not max_items else next_index,
               unit="min" if not max_items else "item", desc="corpus (clean audio)", disable=not progress,
               file=sys.stderr, dynamic_ncols=True)
    manifest = open(os.path.join(out_dir, "manifest.jsonl"), "a")
    worker_config = {"seed": seed, "voices": voices, "out_dir": out_dir, "n_augment": n_augment,
                     "max_phrases": max_phrases, "languages": languages}

    def indices():
        i = next_index
        while True:
            if i not in done:
                yield i
            i += 1

    pool = None
    try:
        if workers > 1:
            pool = mp.get_context("fork").Pool(workers, _worker_init, (worker_config,))
            results = _ordered(pool, indices(), window=2 * workers)
        else:
            results = (build_item(i, seed, voices, out_dir, n_augment, bank, max_phrases, languages)
                       for i in indices())
        for item_rows in results:
            index = item_rows[0]["index"]
            manifest.write("".join(json.dumps(row) + "\n" for row in item_rows))
            manifest.flush()
            rows.extend(item_rows)
            clean += item_rows[0]["duration"]
            bar.update(min(round(item_rows[0]["duration"] / 60, 3), max(bar.total - bar.n, 0))
                       if not max_items else 1)
            if (index + 1) % 50 == 0:
                write_summary(rows, False)
            if _reached(clean, target, index + 1, max_items):
                break
    except KeyboardInterrupt:
        print("\ninterrupted: the manifest lists every finished item; rerun the same command to resume",
              file=sys.stderr)
        write_summary(rows, False)
        raise
    finally:
        manifest.close()
        bar.close()
        if pool is not None:
            pool.terminate()
            pool.join()
    _remove_unlisted(out_dir, rows)
    return write_summary(rows, True)


def _code_version() -> str | None:
    """The git commit of the builder, so a summary says which code made the items it describes."""
    import subprocess
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             cwd=os.path.dirname(os.path.abspath(__file__)), timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _ordered(pool, indices, window: int):
    """Results in index order with at most `window` items in flight (Pool.imap would drain an
    endless index generator into its task queue)."""
    from collections import deque
    pending: deque = deque()
    for index in indices:
        pending.append(pool.apply_async(_worker_run, (index,)))
        if len(pending) >= window:
            yield pending.popleft().get()


def _reached(clean: float, target: float, n_items: int, max_items: int | None) -> bool:
    if max_items:
        return n_items >= max_items
    return clean >= target


def _remove_unlisted(out_dir: str, rows: list[dict]) -> None:
    """Drop item files that workers finished past the end (not in the manifest) and temp files."""
    listed = {r["id"] for r in rows}
    items_dir = os.path.join(out_dir, "items")
    for name in os.listdir(items_dir):
        stem = name.split(".", 1)[0]
        if ".tmp" in name or stem not in listed:
            os.remove(os.path.join(items_dir, name))


def build_tiny(out_dir: str, n_items: int = 12, seed: int = 0, languages: tuple[str, ...] = ("en",)) -> dict:
    """A tiny espeak-only corpus in the real layout (for tests): short items, one augmentation."""
    return build_corpus(out_dir, hours=0, seed=seed, n_augment=1, workers=1, engines=("espeak",),
                        max_phrases=1, max_items=n_items, progress=False, bank_size=min(4, n_items),
                        languages=languages)
