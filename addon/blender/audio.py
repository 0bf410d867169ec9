"""The scene's sound strips -> one WAV over a frame range (``addon.core.mixdown`` does the mixing).

WAV files, on disk or packed into the .blend, are decoded by the pure core. Everything else
Blender can play (MP3, FLAC, Ogg, AAC...) is decoded here with Blender's audaspace (``aud``).
"""

from __future__ import annotations

import os
import tempfile
from array import array
from dataclasses import dataclass

import bpy

from ..core import mixdown
from ..core.mixdown import Audio, MixdownError, StripSound
from . import compat


@dataclass
class StripSource:
    """What a sound strip plays, read from bpy on the main thread; decoded later on a worker."""

    name: str
    path: str
    data: bytes | None          # the packed sound, if packed
    frame_start: float
    frame_final_start: float
    frame_final_end: float
    volume: float
    mute: bool


def _decode_with_aud(data: bytes | None, path: str, name: str) -> Audio:
    import aud  # Blender's audio library, present in every Blender build

    temp = None
    try:
        if data is not None:
            suffix = os.path.splitext(path)[1] or ".audio"
            fd, temp = tempfile.mkstemp(suffix=suffix, prefix="mouthpiece-")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            path = temp
        sound = aud.Sound(path)
        rate = int(sound.specs[0]) or 48000
        samples = sound.data()  # numpy (frames, channels) float32
    except Exception as exc:  # aud raises plain Exceptions for unreadable files
        raise MixdownError(f"{name}: Blender cannot read its sound file {path!r} ({exc})") from None
    finally:
        if temp:
            os.unlink(temp)
    mono = samples.mean(axis=1) if samples.ndim == 2 else samples
    return Audio(rate=rate, samples=array("f", mono.astype("float32").tobytes()))


def decode(source: StripSource) -> Audio:
    """A strip's sound as mono samples: WAV by the pure core, anything else by audaspace."""
    data, path, name = source.data, source.path, source.name
    if data is None:
        if not path or not os.path.isfile(path):
            raise MixdownError(f"{name}: its sound file {path!r} is missing; relink it or pack it into the .blend")
        if not path.lower().endswith((".wav", ".wave")):
            return _decode_with_aud(None, path, name)
        with open(path, "rb") as f:
            data = f.read()
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        try:
            return mixdown.decode_wav(data, name)
        except MixdownError:
            pass  # a WAV encoding the core does not read (ADPCM, mu-law...): Blender can
    return _decode_with_aud(data, path, name)


def sound_strips(scene, only: str = "") -> list:
    strips = [s for s in compat.sequencer_strips(scene) if s.type == "SOUND" and s.sound is not None]
    if only:
        strips = [s for s in strips if s.name == only]
        if not strips:
            raise MixdownError(f"There is no sound strip named {only!r}; pick another strip or use the mix")
    return strips


def gather(scene, fps: float, range_start: int, range_end: int, only: str = "") -> list[StripSource]:
    """The strips that overlap the range (main thread: this reads bpy). Raises MixdownError at
    once when none that is unmuted does, so that the animator hears about it before any work."""
    sources = []
    for strip in sound_strips(scene, only):
        content_start, heard_from, heard_to = compat.strip_span(strip)
        if heard_to <= range_start or heard_from > range_end:
            continue
        sound = strip.sound
        # sound_offset (seconds) moves the sound later into the file; fold it into frame_start.
        frame_start = content_start - getattr(strip, "sound_offset", 0.0) * fps
        sources.append(StripSource(
            name=strip.name, path=bpy.path.abspath(sound.filepath, library=sound.library),
            data=bytes(sound.packed_file.data) if sound.packed_file is not None else None,
            frame_start=frame_start, frame_final_start=heard_from,
            frame_final_end=heard_to, volume=strip.volume,
            mute=strip.mute or compat.channel_muted(scene, strip.channel)))
    if not any(not s.mute and s.volume != 0.0 for s in sources):
        mixdown.mixdown([_silent(s) for s in sources], range_start, range_end, fps)  # raises its message
    return sources


def _silent(source: StripSource) -> StripSound:
    return StripSound(source.name, Audio(rate=1, samples=[]), source.frame_start, source.frame_final_start,
                      source.frame_final_end, source.volume, mute=True)


def mix(sources: list[StripSource], fps: float, range_start: int, range_end: int) -> bytes:
    """Decode and mix the gathered strips (no bpy: runs on a worker thread)."""
    sounds = [_silent(s) if s.mute or s.volume == 0.0 else
              StripSound(s.name, decode(s), s.frame_start, s.frame_final_start, s.frame_final_end, s.volume)
              for s in sources]
    return mixdown.mixdown(sounds, range_start, range_end, fps)


def range_audio(scene, fps: float, range_start: int, range_end: int, only: str = "") -> bytes:
    """One mono 16-bit WAV of what plays in [range_start, range_end]; MixdownError if nothing."""
    return mix(gather(scene, fps, range_start, range_end, only), fps, range_start, range_end)
