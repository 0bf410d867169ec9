"""The scene's sound strips -> one WAV over a frame range (``addon.core.mixdown`` does the mixing).

WAV files, on disk or packed into the .blend, are decoded by the pure core. Everything else
Blender can play (MP3, FLAC, Ogg, AAC, ADPCM WAV...) Blender itself turns into a PCM WAV at the
file's own rate and channel layout while the strips are gathered, and the core reads that too:
with audaspace's ``aud`` module where Blender has it (``Sound.write`` needs no numpy, unlike
``Sound.data``), else (or if that fails) with Blender's own Render Audio (``sound.mixdown``) of a
temporary scene, which needs no Python module at all: Blender builds whose ``aud`` cannot start,
such as Debian's without a matching numpy, still decode every strip they play.
"""

from __future__ import annotations

import math
import os
import tempfile
from dataclasses import dataclass

import bpy

from ..core import mixdown
from ..core.mixdown import Audio, MixdownError, StripSound
from . import compat

_HEAD_BYTES = 1 << 16  # a WAV's fmt chunk lies well within its first 64 KiB
_DECODE_FPS = 25        # the temporary scene's frame rate: a whole number of samples per frame at common rates


@dataclass
class StripSource:
    """What a sound strip plays, read from bpy on the main thread; decoded later on a worker.
    ``data`` is a WAV the core reads, or None to read ``path`` (a WAV too)."""

    name: str
    path: str
    data: bytes | None          # the packed sound, or the WAV Blender made of a format the core cannot read
    frame_start: float
    frame_final_start: float
    frame_final_end: float
    volume: float
    mute: bool


def _write_with_aud(source: str, target: str, seconds: float) -> None:
    import aud  # ImportError where Blender's audio module could not start (no usable numpy)

    sound = aud.Sound(source)
    rate, channels = sound.specs  # kept as they are, so the core mixes it exactly like a WAV
    # The whole file: Sound.limit() makes write() fail ("filling the audio frame failed").
    sound.write(target, int(rate), int(channels), aud.FORMAT_S16, aud.CONTAINER_WAV, aud.CODEC_PCM, 0, 4096)


# Sound.channels -> sound.mixdown's channels (the same layouts, other names)
_MIXDOWN_CHANNELS = {"MONO": "MONO", "STEREO": "STEREO", "STEREO_LFE": "STEREO_LFE", "CHANNELS_4": "SURROUND4",
                     "CHANNELS_5": "SURROUND5", "SURROUND_51": "SURROUND51", "SURROUND_61": "SURROUND61",
                     "SURROUND_71": "SURROUND71"}


def _render_with_blender(source: str, target: str, seconds: float) -> None:
    """Blender's Render Audio of a temporary scene that plays only ``source`` from its start."""
    known = set(bpy.data.sounds)
    scene = bpy.data.scenes.new("Mouthpiece decode")
    try:
        scene.render.fps, scene.render.fps_base = _DECODE_FPS, 1.0
        editor = scene.sequence_editor_create()
        strips = editor.strips if hasattr(editor, "strips") else editor.sequences
        sound = strips.new_sound("decode", source, 1, 0).sound  # frame 0: sample 0 of the mixdown
        if not sound.samplerate:
            raise MixdownError("no decoder in this Blender reads it")
        scene.frame_start, scene.frame_end = 0, max(1, math.ceil(seconds * _DECODE_FPS))
        with bpy.context.temp_override(scene=scene, view_layer=scene.view_layers[0]):
            # At the file's own rate and layout (a mono mix would add the channels, not average them).
            result = bpy.ops.sound.mixdown(filepath=target, check_existing=False, relative_path=False,
                                           container="WAV", codec="PCM", format="S16",
                                           channels=_MIXDOWN_CHANNELS.get(sound.channels, "MONO"),
                                           mixrate=min(max(sound.samplerate, 8000), 192000), accuracy=1024)
        if "FINISHED" not in result:
            raise MixdownError(f"Render Audio returned {sorted(result)}")
    finally:
        bpy.data.scenes.remove(scene)
        for unused in [s for s in bpy.data.sounds if s not in known and s.users == 0]:
            bpy.data.sounds.remove(unused)


_DECODERS = (("audaspace", _write_with_aud), ("Render Audio", _render_with_blender))


def blender_to_wav(path: str, data: bytes | None, name: str, seconds: float) -> bytes:
    """A sound file Blender plays -> a WAV of its first ``seconds`` or more (main
    thread: this may run an operator). MixdownError saying what to do when Blender cannot."""
    failures = []
    with tempfile.TemporaryDirectory(prefix="mouthpiece-") as folder:
        source = path
        if data is not None:
            source = os.path.join(folder, "packed" + (os.path.splitext(path)[1] or ".audio"))
            with open(source, "wb") as f:
                f.write(data)
        target = os.path.join(folder, "decoded.wav")
        for label, decoder in _DECODERS:
            try:
                decoder(source, target, seconds)
                with open(target, "rb") as f:
                    wav = f.read()
                if mixdown.readable_wav(wav):
                    return wav
                failures.append(f"{label}: it wrote no WAV")
            except Exception as exc:  # aud.error, ImportError, RuntimeError from bpy
                failures.append(f"{label}: {exc}")
    raise MixdownError(
        f"{name}: Blender cannot decode its sound file {path!r} ({'; '.join(failures)}). "
        "Convert it to a WAV file (16-bit PCM) and load that in the strip.")


def _head(data: bytes | None, path: str) -> bytes:
    if data is not None:
        return data[:_HEAD_BYTES]
    with open(path, "rb") as f:
        return f.read(_HEAD_BYTES)


def _missing(source: StripSource) -> MixdownError:
    return MixdownError(f"{source.name}: its sound file {source.path!r} is missing; "
                        "relink it or pack it into the .blend")


def decode(source: StripSource) -> Audio:
    """A gathered strip's sound (a WAV by now) as mono samples, by the pure core."""
    data, path, name = source.data, source.path, source.name
    if data is None:
        if not path or not os.path.isfile(path):
            raise _missing(source)
        with open(path, "rb") as f:
            data = f.read()
    return mixdown.decode_wav(data, name)


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
        source = StripSource(
            name=strip.name, path=bpy.path.abspath(sound.filepath, library=sound.library),
            data=bytes(sound.packed_file.data) if sound.packed_file is not None else None,
            frame_start=frame_start, frame_final_start=heard_from,
            frame_final_end=heard_to, volume=strip.volume,
            mute=strip.mute or compat.channel_muted(scene, strip.channel))
        if not source.mute and source.volume != 0.0:
            _readable_by_core(source, (min(heard_to, range_end + 1) - frame_start) / fps)
        sources.append(source)
    if not any(not s.mute and s.volume != 0.0 for s in sources):
        mixdown.mixdown([_silent(s) for s in sources], range_start, range_end, fps)  # raises its message
    return sources


def _readable_by_core(source: StripSource, seconds: float) -> None:
    """Make ``source`` a WAV the core reads: Blender decodes any other format now (its first
    ``seconds``, where the range stops hearing it)."""
    if source.data is None and not (source.path and os.path.isfile(source.path)):
        raise _missing(source)
    try:
        head = _head(source.data, source.path)
    except OSError as exc:
        raise MixdownError(f"{source.name}: cannot read its sound file {source.path!r} ({exc.strerror or exc}); "
                           "relink it or pack it into the .blend") from None
    if not mixdown.readable_wav(head):
        source.data = blender_to_wav(source.path, source.data, source.name, seconds + 0.1)


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
