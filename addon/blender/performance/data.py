"""The Performance settings as plain values: what a job sends, and filling them from a style."""

from __future__ import annotations

from ...core import performance
from .. import compat


def set_keys(settings) -> list[str]:
    return [key for key in performance.KEYS if getattr(settings, f"use_{key}")]


def values(settings) -> dict:
    return {key: getattr(settings, key) for key in performance.KEYS}


def request_style(settings):
    return performance.request_style(values(settings), set_keys(settings))


def fill(settings, style: dict) -> list[str]:
    """Set the panel to ``style`` (every key it holds becomes set); the keys set, in panel order."""
    chosen = performance.panel_values(style)
    for key, value in chosen.items():
        setattr(settings, key, value)
        setattr(settings, f"use_{key}", True)
    return [key for key in performance.KEYS if key in chosen]


def reset(settings) -> None:
    for key in performance.KEYS:
        setattr(settings, f"use_{key}", False)
    settings.style_guidance = performance.STYLE_GUIDANCE_OFF


def text_strips(scene) -> list[tuple[tuple[float, float], int, str]]:
    """(span, channel, text) of each text strip that is heard (not muted, nor its channel)."""
    out = []
    for strip in compat.sequencer_strips(scene):
        if strip.type != "TEXT" or strip.mute or compat.channel_muted(scene, strip.channel):
            continue
        _, first, end = compat.strip_span(strip)
        out.append(((first, end), strip.channel, strip.text))
    return out


def heard_spans(sounds) -> list[tuple[float, float]]:
    """(first frame heard, end) of each unmuted sound (audio.StripSource) a job hears."""
    return [(s.frame_final_start, s.frame_final_end) for s in sounds if not s.mute]


def strip_spans(scene, only: str = "") -> list[tuple[float, float]]:
    """The same from the sequencer itself (the panel: it never gathers or decodes sound)."""
    out = []
    for strip in compat.sequencer_strips(scene):
        if strip.type == "SOUND" and not strip.mute and not compat.channel_muted(scene, strip.channel) \
                and (not only or strip.name == only):
            out.append(tuple(compat.strip_span(strip)[1:]))
    return out


def dialogue(scene, spans, frames: tuple[int, int]) -> tuple[str, str]:
    """(transcript, "field" | "strips" | "") for a job over ``frames`` hearing sound strips over
    ``spans``: the typed dialogue, else the text strips over those sound strips (in the frames)."""
    start, end = frames
    clipped = [(max(a, start), min(b, end + 1)) for a, b in spans]
    clipped = [span for span in clipped if span[0] < span[1]]
    return performance.dialogue_text(scene.mouthpiece.dialogue, clipped, text_strips(scene))


def request_fields(scene, sounds, frames: tuple[int, int]) -> dict:
    """build_job_request's performance arguments for a job of ``scene`` over ``frames``."""
    settings = scene.mouthpiece
    transcript, _ = dialogue(scene, heard_spans(sounds), frames)
    return dict(style=request_style(settings.performance),
                style_guidance=performance.request_style_guidance(settings.performance.style_guidance),
                language=performance.request_language(settings.language), transcript=transcript or None)
