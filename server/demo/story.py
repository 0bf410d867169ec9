"""What the demo does to the sample sentence, in scene frames, chosen from its forced alignment.

The sentence is "Hello! My name is Mouthpiece. Bring me a bowl of warm soup, and we'll talk about
the weather." The demo pins two poses an animator might want (a rounder "O" in "hello", lips
pressed on the M of "Mouthpiece") and in-betweens them, regenerates "bring me a bowl", makes three
takes of "we'll talk about the weather" and keeps the second, then renders the head at eight
phones that look different (open, closed, rounded). Every frame comes from where pocketsphinx
finds the words, so the pins land on the sounds they are meant for.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from server.speech.alignment import Alignment

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_WAV = ROOT / "server" / "samples" / "hello.wav"
SAMPLE_TEXT = ("Hello! My name is Mouthpiece. Bring me a bowl of warm soup, "
               "and we'll talk about the weather.")

FPS = 30.0          # the scene's frame rate (the model's, so demo.csv rows are model frames)
FIRST_FRAME = 1     # the sound strip starts here; audio time 0 is this frame

# (word, phone in it, values set before Pin Pose, what it is)
PINS = (
    ("hello", "OW", {"jawOpen": 0.55, "mouthFunnel": 0.6, "mouthPucker": 0.35}, "round 'O' in hello"),
    ("mouthpiece", "M", {"jawOpen": 0.06, "mouthClose": 0.06, "mouthPressLeft": 0.6, "mouthPressRight": 0.6},
     "lips pressed on the M of Mouthpiece"),
)
REGENERATE = ("bring", "bowl", 7)              # first word, last word, seed
VARIATIONS = ("we'll", "weather", 3, 11, 1)    # first word, last word, takes, seed, index kept
GENERATE_SEED = 0
RENDER_AT = (("hello", "OW"), ("my", "AY"), ("mouthpiece", "M"), ("bowl", "B"),
             ("bowl", "OW"), ("soup", "UW"), ("talk", "AO"), ("weather", "EH"))


class StoryError(ValueError):
    """The alignment lacks a word or phone the demo needs."""


@dataclass(frozen=True)
class Timeline:
    """Seconds <-> scene frames for a clip that starts at ``first_frame``."""

    fps: float
    first_frame: int
    duration: float

    @property
    def last_frame(self) -> int:
        from server.timebase import num_frames

        return self.first_frame + num_frames(self.duration, self.fps) - 1

    def frame(self, seconds: float) -> int:
        return min(self.last_frame, max(self.first_frame, self.first_frame + round(seconds * self.fps)))


def _word(alignment: Alignment, word: str) -> tuple[str, float, float]:
    for entry in alignment.words:
        if entry[0] == word:
            return entry
    raise StoryError(f"the alignment has no word {word!r} (it found: {' '.join(w for w, _, _ in alignment.words)})")


def phone_in_word(alignment: Alignment, word: str, phone: str) -> tuple[float, float]:
    """(start, end) seconds of the first ``phone`` inside the first ``word``."""
    _, start, end = _word(alignment, word)
    for p, s, e in alignment.phones:
        if p == phone and s >= start - 1e-6 and e <= end + 1e-6:
            return s, e
    raise StoryError(f"the alignment has no {phone} inside {word!r}")


def words_span(alignment: Alignment, first: str, last: str) -> tuple[float, float]:
    return _word(alignment, first)[1], _word(alignment, last)[2]


def plan(alignment: Alignment, duration: float, fps: float = FPS, first_frame: int = FIRST_FRAME) -> dict:
    """The demo's actions in scene frames (JSON-ready; scripts/demo_blender.py carries them out)."""
    timeline = Timeline(fps, first_frame, duration)

    def mid_frame(word, phone):
        start, end = phone_in_word(alignment, word, phone)
        return timeline.frame((start + end) / 2)

    def span_frames(first, last):
        start, end = words_span(alignment, first, last)
        return timeline.frame(start), timeline.frame(end)

    pins = [{"frame": mid_frame(word, phone), "values": values, "label": label, "word": word, "phone": phone}
            for word, phone, values, label in PINS]
    regen = span_frames(*REGENERATE[:2])
    var = span_frames(*VARIATIONS[:2])
    return {
        "fps": fps,
        "frame_start": first_frame,
        "frame_end": timeline.last_frame,
        "generate_seed": GENERATE_SEED,
        "pins": pins,
        "regenerate": {"start": regen[0], "end": regen[1], "seed": REGENERATE[2],
                       "label": f"{REGENERATE[0]} ... {REGENERATE[1]}"},
        "variations": {"start": var[0], "end": var[1], "count": VARIATIONS[2], "seed": VARIATIONS[3],
                       "keep": VARIATIONS[4], "label": f"{VARIATIONS[0]} ... {VARIATIONS[1]}"},
        "render": [{"frame": mid_frame(word, phone), "word": word, "phone": phone} for word, phone in RENDER_AT],
        "words": [list(w) for w in alignment.words],
        "phones": [list(p) for p in alignment.phones],
    }
