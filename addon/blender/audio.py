"""The scene's sound strips -> one WAV over a frame range (``addon.core.mixdown`` does the mixing).

WAV files, on disk or packed into the .blend, are decoded by the pure core. Everything else
Blender can play (MP3, FLAC, Ogg, AAC...) is decoded here with Blender's audaspace (``aud``).
"""

from __future__ import annotations

import os
import tempfile
from array import array

import bpy

from ..core import mixdown
from ..core.mixdown import Audio, MixdownError, StripSound
from . import compat


def _sound_bytes(sound) -> tuple[bytes | None, str]:
    """(bytes of a packed sound or None, absolute path) for a sound datablock."""
    path = bpy.path.abspath(sound.filepath, library=sound.library)
    if sound.packed_file is not None:
        return bytes(sound.packed_file.data), path
    return None, path


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


def decode_sound(sound, name: str) -> Audio:
    data, path = _sound_bytes(sound)
    if data is None:
        if not path or not os.path.isfile(path):
            raise MixdownError(f"{name}: its sound file {path!r} is missing; relink it or pack it into the .blend")
        if path.lower().endswith((".wav", ".wave")):
            with open(path, "rb") as f:
                data = f.read()
        else:
            return _decode_with_aud(None, path, name)
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


def strip_sounds(scene, fps: float, range_start: int, range_end: int, only: str = "") -> list[StripSound]:
    """The strips heard in the range, decoded (strips outside it are never read from disk)."""
    result = []
    for strip in sound_strips(scene, only):
        if strip.frame_final_end <= range_start or strip.frame_final_start > range_end:
            continue
        muted = strip.mute or compat.channel_muted(scene, strip.channel)
        audio = Audio(rate=1, samples=[]) if muted else decode_sound(strip.sound, strip.name)
        # sound_offset (seconds) moves the sound later into the file; fold it into frame_start.
        frame_start = strip.frame_start - getattr(strip, "sound_offset", 0.0) * fps
        result.append(StripSound(
            name=strip.name, audio=audio, frame_start=frame_start,
            frame_final_start=strip.frame_final_start, frame_final_end=strip.frame_final_end,
            volume=strip.volume, mute=muted))
    return result


def range_audio(scene, fps: float, range_start: int, range_end: int, only: str = "") -> bytes:
    """One mono 16-bit WAV of what plays in [range_start, range_end]; MixdownError if nothing."""
    return mixdown.mixdown(strip_sounds(scene, fps, range_start, range_end, only), range_start, range_end, fps)
