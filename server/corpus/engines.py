"""TTS engines with exact phone timings: espeak-ng (C API via ctypes), flite (-psdur), festival,
and MBROLA (espeak-ng's mb-* voices write the .pho score MBROLA renders, so its durations are the
phone times).

Each engine turns one phrase into (audio float32 at 16 kHz, raw phones) where raw phones are
(engine_phone_name, start_s, end_s), contiguous from 0 to the audio's end. Mapping to ARPAbet
and stop-closure correction happen in server.corpus.phones.
"""
from __future__ import annotations

import ctypes
import os
import pickle
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from math import gcd

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from server.audio import SAMPLE_RATE

from .mbrola_phones import UNUSED_VOICES as MBROLA_UNUSED_VOICES
from .mbrola_phones import VOICE_LANGUAGE as MBROLA_VOICE_LANGUAGE
from .mbrola_phones import renderable_score


class EngineError(RuntimeError):
    """A TTS engine is missing or failed; the message says what to install or fix."""


def to_16k(audio: np.ndarray, rate: int) -> np.ndarray:
    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim > 1:
        audio = audio.mean(axis=1)
    if rate == SAMPLE_RATE:
        return audio
    g = gcd(SAMPLE_RATE, rate)
    return resample_poly(audio, SAMPLE_RATE // g, rate // g).astype(np.float32)


@dataclass
class Voice:
    """One synthesiser voice with its prosody settings for one utterance."""
    engine: str                 # "espeak" | "flite" | "festival" | "mbrola"
    name: str                   # engine voice name, e.g. "en-us+f2", "slt", "kal_diphone"
    rate: float = 1.0           # speaking-rate factor (>1 faster)
    pitch: float = 50.0         # espeak, mbrola 0-100; flite/festival: mean F0 in Hz (0 = voice default)
    pitch_range: float = 50.0   # espeak 0-100; flite/festival: F0 std in Hz (0 = default)
    word_gap: int = 0           # espeak: extra pause between words in 10 ms units
    extra: dict = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.engine}:{self.name}"


# ---------------------------------------------------------------------------------------- espeak-ng
class _EspeakID(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _EspeakEvent(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint),
                ("text_position", ctypes.c_int), ("length", ctypes.c_int),
                ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", _EspeakID)]


_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                                   ctypes.POINTER(_EspeakEvent))
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INIT_PHONEME_EVENTS = 0x0001
_INIT_PHONEME_IPA = 0x0002
_INIT_DONT_EXIT = 0x8000
_EVENT_LIST_TERMINATED = 0
_EVENT_PHONEME = 7
_CHARS_UTF8 = 1
_PARAM = {"rate": 1, "volume": 2, "pitch": 3, "range": 4, "wordgap": 7}


class Espeak:
    """espeak-ng in this process (the library is a process-wide singleton)."""
    _instance: "Espeak | None" = None

    @classmethod
    def get(cls) -> "Espeak":
        if cls._instance is None:     # forked processes inherit the initialised library
            cls._instance = cls()
        return cls._instance

    def __init__(self) -> None:
        try:
            self._lib = ctypes.CDLL("libespeak-ng.so.1")
        except OSError as exc:
            raise EngineError("libespeak-ng.so.1 not found: apt-get install espeak-ng") from exc
        rate = self._lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, None,
                                           _INIT_PHONEME_EVENTS | _INIT_DONT_EXIT)
        if rate <= 0:
            raise EngineError(f"espeak_Initialize failed ({rate}); is espeak-ng-data installed?")
        self.sample_rate = rate
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[str, int]] = []
        self._callback = _SYNTH_CALLBACK(self._on_synth)   # keep a reference: C holds a pointer
        self._lib.espeak_SetSynthCallback(self._callback)

    def _on_synth(self, wav, n_samples, events) -> int:
        if n_samples > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, (n_samples,)).copy())
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            event = events[i]
            if event.type == _EVENT_PHONEME:
                self._events.append((event.id.string.decode("utf-8", "replace"), event.sample))
            i += 1
        return 0

    def synth(self, text: str, voice: Voice, *, ipa: bool = False) -> tuple[np.ndarray, list]:
        """Synthesise in a forked child so this process's espeak state stays as initialised.

        With `ipa`, each raw phone name is a pair (mnemonic, IPA): the child synthesises the text
        a second time with espeak's IPA phoneme events (the same events, one for one, at slightly
        drifting samples; audio and timings are the first, mnemonic-mode run's). Mnemonics mean
        different sounds in different languages ("Q", "R", "*"); the IPA names do not
        (server.corpus.ipa).

        espeak-ng keeps synthesis state in C statics across calls (pitch flutter index, wave
        phase) that espeak_Initialize does not reset, so the same text renders differently
        depending on what was spoken before. Forking from a never-used library makes every phrase
        start from the same state: the corpus is reproducible whatever the order or worker count.
        """
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:                                       # child: synthesise, send, exit at once
            try:
                os.close(read_fd)
                try:
                    result = self._synth_here(text, voice)
                    if ipa:
                        result = result + (self._synth_ipa_here(text, voice),)
                    payload = pickle.dumps(("ok", result))
                except BaseException as exc:              # report any failure to the parent
                    payload = pickle.dumps(("error", f"{type(exc).__name__}: {exc}"))
                with os.fdopen(write_fd, "wb") as pipe:
                    pipe.write(payload)
            finally:
                os._exit(0)
        os.close(write_fd)
        with os.fdopen(read_fd, "rb") as pipe:
            data = pipe.read()
        os.waitpid(pid, 0)
        if not data:
            raise EngineError(f"espeak-ng child process died while synthesising {text!r}")
        status, result = pickle.loads(data)
        if status != "ok":
            raise EngineError(result)
        audio, marks = result[0], result[1]
        if ipa:
            ipa_marks = result[2]
            # The second synthesis drifts (espeak's pitch-flutter state, pause lengths): the
            # timings are the first run's; the events must be the same ones, one for one.
            if len(ipa_marks) != len(marks):
                raise EngineError(f"espeak-ng's IPA events differ from its phoneme events for {text!r}")
            marks = [((name, ipa_name), s) for (name, s), (ipa_name, _) in zip(marks, ipa_marks)]
        total = len(audio)
        raw: list = []
        marks = [(name, min(max(s, 0), total)) for name, s in marks]
        if not marks or marks[0][1] > 0:
            marks.insert(0, (("_", "") if ipa else "_", 0))
        for k, (name, start) in enumerate(marks):
            end = marks[k + 1][1] if k + 1 < len(marks) else total
            if end > start:
                raw.append((name, start / self.sample_rate, end / self.sample_rate))
        audio16 = to_16k(audio.astype(np.float32) / 32768.0, self.sample_rate)
        return audio16, _fit_spans(raw, len(audio16) / SAMPLE_RATE)

    def _synth_ipa_here(self, text: str, voice: Voice) -> list[tuple[str, int]]:
        """Re-initialise with IPA phoneme events (only ever in a forked child) and synthesise."""
        self._lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, None,
                                    _INIT_PHONEME_EVENTS | _INIT_PHONEME_IPA | _INIT_DONT_EXIT)
        self._lib.espeak_SetSynthCallback(self._callback)
        return self._synth_here(text, voice)[1]

    def _synth_here(self, text: str, voice: Voice) -> tuple[np.ndarray, list[tuple[str, int]]]:
        """Raw int16 audio and (phoneme, sample) events, synthesised in this process."""
        if self._lib.espeak_SetVoiceByName(voice.name.encode()) != 0:
            raise EngineError(f"espeak-ng has no voice {voice.name!r}; see `espeak-ng --voices=en`")
        self._lib.espeak_SetParameter(_PARAM["rate"], int(round(175 * voice.rate)), 0)
        self._lib.espeak_SetParameter(_PARAM["pitch"], int(voice.pitch), 0)
        self._lib.espeak_SetParameter(_PARAM["range"], int(voice.pitch_range), 0)
        self._lib.espeak_SetParameter(_PARAM["wordgap"], int(voice.word_gap), 0)
        self._lib.espeak_SetParameter(_PARAM["volume"], 100, 0)
        self._chunks, self._events = [], []
        data = text.encode("utf-8")
        err = self._lib.espeak_Synth(data, len(data) + 1, 0, 0, 0, _CHARS_UTF8, None, None)
        self._lib.espeak_Synchronize()
        if err != 0 or not self._chunks:
            raise EngineError(f"espeak-ng failed to synthesise {text!r} (error {err})")
        # Event sample positions count from the start of this espeak_Synth call.
        return np.concatenate(self._chunks), list(self._events)


def _fit_spans(raw: list[tuple[str, float, float]], duration: float) -> list[tuple[str, float, float]]:
    """Clip spans to [0, duration], make them contiguous and end exactly at duration."""
    out: list[tuple[str, float, float]] = []
    t = 0.0
    for name, _start, end in raw:
        end = min(end, duration)
        if end - t > 1e-6:
            out.append((name, t, end))
            t = end
    if duration - t > 1e-6:
        if out:
            name, s, _ = out[-1]
            out[-1] = (name, s, duration)
        else:
            out.append(("_", 0.0, duration))
    return out


def _from_segment_ends(audio: np.ndarray, rate: int, ends: list[tuple[str, float]]):
    """flite and festival report each segment's end time; spans run from the previous end."""
    raw, t = [], 0.0
    for name, end in ends:
        raw.append((name, t, end))
        t = end
    audio16 = to_16k(audio, rate)
    return audio16, _fit_spans(raw, len(audio16) / SAMPLE_RATE)


# ---------------------------------------------------------------------------------------- flite
def flite_voices() -> list[str]:
    if shutil.which("flite") is None:
        return []
    out = subprocess.run(["flite", "-lv"], capture_output=True, text=True).stdout
    return out.split(":", 1)[-1].split()


def flite_synth(text: str, voice: Voice) -> tuple[np.ndarray, list[tuple[str, float, float]]]:
    if shutil.which("flite") is None:
        raise EngineError("flite not found: apt-get install flite")
    with tempfile.TemporaryDirectory(prefix="mp_flite_") as tmp:
        wav_path = os.path.join(tmp, "out.wav")
        cmd = ["flite", "-voice", voice.name, "-psdur", "-t", text, "-o", wav_path,
               "--setf", f"duration_stretch={1.0 / voice.rate:.3f}"]
        if voice.pitch > 0:
            cmd += ["--setf", f"int_f0_target_mean={voice.pitch:.1f}"]
        if voice.pitch_range > 0:
            cmd += ["--setf", f"int_f0_target_stddev={voice.pitch_range:.1f}"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0 or not os.path.exists(wav_path):
            raise EngineError(f"flite -voice {voice.name} failed: {proc.stderr.strip()[:200]}")
        audio, rate = sf.read(wav_path, dtype="float32")
    ends = [(name, float(end)) for name, _, end in (t.rpartition(":") for t in proc.stdout.split())]
    return _from_segment_ends(audio, rate, ends)


# ---------------------------------------------------------------------------------------- festival
FESTIVAL_VOICE_DIRS = ["/usr/share/festival/voices"]


def festival_voices() -> list[str]:
    """English festival voices installed (directory names under voices/english and voices/us)."""
    if shutil.which("festival") is None:
        return []
    names = []
    for base in FESTIVAL_VOICE_DIRS:
        for lang in ("english", "us"):
            d = os.path.join(base, lang)
            if os.path.isdir(d):
                names += sorted(os.listdir(d))
    return names


# Debian's non-English festival voices: voice name (its directory under voices/<language>/, and
# `(voice_<name>)` in Scheme) -> (corpus language code, the text encoding its front end reads, its
# phone set in server.corpus.festival_phones). UTF-8 text fails in the Italian front end (LTS "no
# rule matches"); Czech reads ISO-8859-2 (czech.scm's voices proclaim it), Finnish ISO-8859-1;
# the Russian msu voice reads UTF-8 (its lexicon splits words with utf8explode).
FESTIVAL_FOREIGN_VOICES: dict[str, tuple[str, str, str]] = {
    "pc_diphone": ("it", "iso-8859-1", "italian"),       # festvox-itapc16k, male
    "lp_diphone": ("it", "iso-8859-1", "italian"),       # festvox-italp16k, female
    "msu_ru_nsh_clunits": ("ru", "utf-8", "msu_ru"),     # festvox-ru, male, unit selection
    "czech_ph": ("cs", "iso-8859-2", "czech"),           # festvox-czech-ph, male
    "czech_dita": ("cs", "iso-8859-2", "czech"),         # festvox-czech-dita, female
    "czech_machac": ("cs", "iso-8859-2", "czech"),       # festvox-czech-machac, male
    "czech_krb": ("cs", "iso-8859-2", "czech"),          # festvox-czech-krb, male
    "suo_fi_lj_diphone": ("fi", "iso-8859-1", "finnish"),  # festvox-suopuhe-lj, female
    "hy_fi_mv_diphone": ("fi", "iso-8859-1", "finnish"),   # festvox-suopuhe-mv, male
}
FESTIVAL_FOREIGN_DIRS = ("italian", "russian", "czech", "finnish")


def festival_foreign_voices() -> dict[str, str]:
    """Installed non-English festival voices: name -> corpus language code."""
    if shutil.which("festival") is None:
        return {}
    found = {}
    for base in FESTIVAL_VOICE_DIRS:
        for lang in FESTIVAL_FOREIGN_DIRS:
            d = os.path.join(base, lang)
            if os.path.isdir(d):
                for name in sorted(os.listdir(d)):      # e.g. suopuhe.common is not a voice
                    if name in FESTIVAL_FOREIGN_VOICES:
                        found[name] = FESTIVAL_FOREIGN_VOICES[name][0]
    return found


def _scheme_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def festival_synth(text: str, voice: Voice) -> tuple[np.ndarray, list[tuple[str, float, float]]]:
    if shutil.which("festival") is None:
        raise EngineError("festival not found: apt-get install festival festvox-kallpc16k")
    foreign = FESTIVAL_FOREIGN_VOICES.get(voice.name)
    encoding = foreign[1] if foreign else "utf-8"
    with tempfile.TemporaryDirectory(prefix="mp_festival_") as tmp:
        wav_path = os.path.join(tmp, "out.wav")
        script = os.path.join(tmp, "synth.scm")
        lines = [f"(voice_{voice.name})",
                 f"(Parameter.set 'Duration_Stretch {1.0 / voice.rate:.3f})"]
        if voice.pitch > 0 and voice.name.endswith("_diphone") and not foreign:
            # Diphone voices take their intonation targets from int_lr_params (model 170/34 Hz).
            lines.append(f"(set! int_lr_params '((target_f0_mean {voice.pitch:.1f}) (target_f0_std "
                         f"{max(voice.pitch_range, 1.0):.1f}) (model_f0_mean 170) (model_f0_std 34)))")
        elif voice.pitch > 0 and foreign and foreign[2] == "czech":
            # The Czech voices' contours (czech.scm, Int_Targets_General) take a mean and a spread
            # in Hz from int_general_params, which selecting the voice has just set.
            lines.append(f"(set! int_general_params (list (list 'targ_func czech-int-targets) "
                         f"'(f0_mean {voice.pitch:.1f}) '(f0_std {max(voice.pitch_range, 1.0):.1f})))")
        lines += [f"(set! utt1 (Utterance Text {_scheme_string(text)}))",
                  "(utt.synth utt1)",
                  f"(utt.save.wave utt1 {_scheme_string(wav_path)} 'riff)",
                  "(mapcar (lambda (s) (format t \"SEG %s %f\\n\" (item.name s) (item.feat s \"end\")))"
                  " (utt.relation.items utt1 'Segment))"]
        try:
            data = ("\n".join(lines) + "\n").encode(encoding)
        except UnicodeEncodeError as exc:
            raise EngineError(f"festival voice {voice.name} reads {encoding}, which cannot hold "
                              f"{text[exc.start:exc.end]!r} in {text!r}") from None
        with open(script, "wb") as f:
            f.write(data)
        proc = subprocess.run(["festival", "-b", script], capture_output=True)
        stdout = proc.stdout.decode(encoding, "replace")
        if proc.returncode != 0 or not os.path.exists(wav_path):
            stderr = proc.stderr.decode(encoding, "replace")
            raise EngineError(f"festival voice {voice.name} failed: {stderr.strip()[:200]}")
        audio, rate = sf.read(wav_path, dtype="float32")
    ends = [(line.split()[1], float(line.split()[2])) for line in stdout.splitlines()
            if line.startswith("SEG ")]
    if not ends:
        raise EngineError(f"festival voice {voice.name} gave no segments for {text!r}")
    return _from_segment_ends(audio, rate, ends)


# ---------------------------------------------------------------------------------------- MBROLA
# MBROLA's diphone voices are cut from recordings of real speakers (Debian's mbrola-* packages,
# contrib and non-free): the nearest thing to real speech Debian has with exact phone times.
# espeak-ng does the text analysis and prosody for its mb-<voice> voices and, with --pho, writes
# the score (phone, duration in ms, pitch targets) that MBROLA renders exactly. English voices:
# us1 (female), us2 and us3 (male) American, en1 (male) British, whose SAMPA phones.py maps. The
# other languages' voices, and those voices reading English with their own diphones ("de1-en":
# German speaker de1's database, English phonemes), are in server.corpus.mbrola_phones.
MBROLA_DIR = "/usr/share/mbrola"
MBROLA_ENGLISH = ("us1", "us2", "us3", "en1")
MBROLA_VOICES = {**{v: "en" for v in MBROLA_ENGLISH},                            # voice -> language
                 **{v: code for v, code in MBROLA_VOICE_LANGUAGE.items() if v not in MBROLA_UNUSED_VOICES}}


def mbrola_database(name: str) -> str:
    """The voice database an espeak-ng mb- voice renders with ("de1-en" speaks with de1's)."""
    return name[:-3] if name.endswith("-en") else name


def _mbrola_database_file(name: str) -> str:
    return os.path.join(MBROLA_DIR, mbrola_database(name), mbrola_database(name))


def _mbrola_installed(name: str) -> bool:
    """Program, espeak-ng (which has the mb- voices) and the voice's database are there."""
    return (name in MBROLA_VOICES and shutil.which("mbrola") is not None
            and shutil.which("espeak-ng") is not None and os.path.isfile(_mbrola_database_file(name)))


def mbrola_voices() -> list[str]:
    """The MBROLA voices installed."""
    return [v for v in MBROLA_VOICES if _mbrola_installed(v)]


def parse_pho(score: str) -> list[tuple[str, float]]:
    """(phone, duration in seconds) from an MBROLA .pho score; comments (;) and blank lines skipped."""
    out = []
    for line in score.splitlines():
        fields = line.split()
        if not fields or fields[0].startswith(";"):
            continue
        out.append((fields[0], float(fields[1]) / 1000.0))
    return out


def mbrola_synth(text: str, voice: Voice) -> tuple[np.ndarray, list[tuple[str, float, float]]]:
    if not _mbrola_installed(voice.name):
        raise EngineError(f"MBROLA voice {voice.name!r} not installed: scripts/make_corpus --engines mbrola "
                          f"installs mbrola and mbrola-{mbrola_database(voice.name)} (Debian contrib and non-free)")
    speak = ["espeak-ng", "-v", f"mb-{voice.name}", "-q", "--pho", "-s", str(int(round(175 * voice.rate))),
             "-p", str(int(voice.pitch)), "-g", str(int(voice.word_gap))]
    proc = subprocess.run(speak, input=text, capture_output=True, text=True)
    phones = parse_pho(proc.stdout)
    if proc.returncode != 0 or not phones:
        raise EngineError(f"espeak-ng -v mb-{voice.name} --pho failed for {text!r}: {proc.stderr.strip()[:200]}")
    with tempfile.TemporaryDirectory(prefix="mp_mbrola_") as tmp:
        pho, wav_path = os.path.join(tmp, "in.pho"), os.path.join(tmp, "out.wav")
        with open(pho, "w") as f:
            f.write(renderable_score(proc.stdout, voice.name))
        # -e: a diphone missing from the database is skipped (with its duration kept silent)
        # rather than fatal; -v: MBROLA's own volume ratio, left at 1 (the corpus sets levels).
        run = subprocess.run(["mbrola", "-e", _mbrola_database_file(voice.name), pho, wav_path],
                             capture_output=True, text=True)
        if run.returncode != 0 or not os.path.exists(wav_path):
            raise EngineError(f"mbrola {voice.name} failed: {run.stderr.strip()[:200]}")
        audio, rate = sf.read(wav_path, dtype="float32")
    ends, t = [], 0.0
    for name, seconds in phones:
        t += seconds
        ends.append((name, t))
    return _from_segment_ends(audio, rate, ends)


def synth(text: str, voice: Voice, *, ipa: bool = False) -> tuple[np.ndarray, list]:
    """Audio and raw phones; `ipa` (espeak only): names are (mnemonic, IPA) pairs."""
    if voice.engine == "espeak":
        return Espeak.get().synth(text, voice, ipa=ipa)
    if voice.engine == "flite":
        return flite_synth(text, voice)
    if voice.engine == "festival":
        return festival_synth(text, voice)
    if voice.engine == "mbrola":
        return mbrola_synth(text, voice)
    raise EngineError(f"unknown engine {voice.engine!r}; use espeak, flite, festival or mbrola")
