"""What a job writes and what the sidecar sees around it: pure functions of plain values.

Every operation that writes part of the timeline (Generate or Variations over a preview range,
In-between, Regenerate Range, a take applied later) follows one rule, so that a take's seed
reproduces it through every path and every edge joins:

- the **write range** is the frames whose keys are replaced;
- the **context** is the write range widened by ``CONTEXT_MARGIN_S`` on each side, inside the
  scene's frame range: the sidecar hears the audio of the whole context and is given the current
  curves outside the write range, which it keeps exactly and joins in value and slope;
- the **written channels** are the mapped channels that are not locked, not muted and not in a
  channel group switched off for the operation; every other channel is **kept**: sent as it is
  on every frame and taken as given by the model (per-channel inpainting), never written.

The same write range, scene range and fps always give the same context, hence the same request.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping

from . import arkit

# How much audio and animation the model sees on each side of the frames it writes. The
# denoiser's receptive field is a fraction of a second; two seconds also gives the speech
# recogniser whole words around the range.
CONTEXT_MARGIN_S = 2.0
# In-between regenerates this far past its first and last pin (over Mouthpiece's own keys only:
# every key of the animator's in the range is a pin), so the curve enters and leaves each pin
# through generated frames instead of jumping from whatever the old curve did next to it.
INBETWEEN_SETTLE_S = 0.5

GROUP_LABELS: dict[str, str] = {
    "jaw_mouth": "Mouth",
    "eyes": "Eyes",
    "brows": "Brows",
    "cheeks_nose": "Cheeks",
    "tongue": "Tongue",
}


class PlanError(ValueError):
    """The scene is not ready for this job; the message says what to do."""


Span = tuple[int, int]  # inclusive scene frames


def clip(span: Span, bounds: Span) -> Span | None:
    start, end = max(span[0], bounds[0]), min(span[1], bounds[1])
    return (start, end) if start <= end else None


def context_range(write: Span, scene: Span, fps: float) -> Span:
    """The frames the sidecar sees for ``write``: widened by the margin, inside ``scene``."""
    margin = int(math.ceil(CONTEXT_MARGIN_S * fps))
    return max(scene[0], write[0] - margin), min(scene[1], write[1] + margin)


def inbetween_range(pin_frames: Iterable[float], bounds: Span, fps: float) -> Span:
    """The write range of In-between: its first to last pinned frame, widened by the settle span."""
    frames = sorted({int(round(f)) for f in pin_frames})
    if len(frames) < 2:
        raise PlanError("In-between needs keys on at least two frames of mapped channels: "
                        "pose the face and press Pin Pose at two or more frames")
    settle = int(math.ceil(INBETWEEN_SETTLE_S * fps))
    return max(bounds[0], frames[0] - settle), min(bounds[1], frames[-1] + settle)


@dataclass(frozen=True)
class ChannelSplit:
    written: tuple[str, ...]            # ARKit channels this job writes, in CHANNELS order
    kept: dict[str, str]                # ARKit channel -> why it is kept ("locked", "muted", "Brows off")

    @property
    def regenerate_channels(self) -> tuple[str, ...] | None:
        """What the request regenerates: all but the kept channels (None: all 52). Unmapped
        channels are left to the model; they are never written."""
        if not self.kept:
            return None
        return tuple(c for c in arkit.CHANNELS if c not in self.kept)


def split_channels(mapped: Iterable[str], *, locked: Iterable[str] = (), muted: Iterable[str] = (),
                   groups_off: Iterable[str] = ()) -> ChannelSplit:
    """Which mapped channels a job writes and which it keeps (and why)."""
    mapped = set(mapped)
    locked, muted, groups_off = set(locked), set(muted), set(groups_off)
    unknown = groups_off - set(arkit.GROUPS)
    if unknown:
        raise ValueError(f"unknown channel groups: {sorted(unknown)}")
    kept: dict[str, str] = {}
    for channel in arkit.CHANNELS:
        if channel not in mapped:
            continue
        group = arkit.group_of(channel)
        if channel in locked:
            kept[channel] = "locked"
        elif channel in muted:
            kept[channel] = "muted"
        elif group in groups_off:
            kept[channel] = f"{GROUP_LABELS[group]} off"
    written = tuple(c for c in arkit.CHANNELS if c in mapped and c not in kept)
    if not written:
        raise PlanError("Every mapped channel is locked, muted or switched off: switch a channel group on "
                        "(Generate > Channels) or unlock a curve in the Graph Editor")
    return ChannelSplit(written=written, kept=kept)


@dataclass(frozen=True)
class RequestRanges:
    """The request's frames for a write range in its context (0-based from the context start)."""

    needs_existing: bool
    regenerate: tuple[int, int] | None
    regenerate_channels: tuple[str, ...] | None


def request_ranges(context: Span, write: Span, split: ChannelSplit) -> RequestRanges:
    if write[0] < context[0] or write[1] > context[1]:
        raise ValueError(f"write range {write} lies outside its context {context}")
    whole = write == context
    if whole and not split.kept:
        return RequestRanges(False, None, None)
    return RequestRanges(True, (write[0] - context[0], write[1] - context[0]), split.regenerate_channels)


def summarize_kept(kept: Mapping[str, str], limit: int = 4) -> str:
    """'5 channels kept (browDownLeft locked, ...)' for the operator's report; '' when none."""
    if not kept:
        return ""
    reasons: dict[str, list[str]] = {}
    for channel, why in kept.items():
        reasons.setdefault(why, []).append(channel)
    parts = []
    for why, channels in reasons.items():
        if why.endswith(" off"):
            parts.append(why)
        else:
            shown = ", ".join(channels[:limit]) + (f" and {len(channels) - limit} more" if len(channels) > limit else "")
            parts.append(f"{why}: {shown}")
    return f"{len(kept)} channels kept ({'; '.join(parts)})"
