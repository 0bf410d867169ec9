"""Text that fits the panel: Blender's labels never wrap and cut long text with an ellipsis, so
messages are wrapped here to the region's width as the UI font measures them."""

from __future__ import annotations

import blf

# Room a label does not get in a sidebar panel: the tab strip, the panel's and a box's margins
# (measured in Blender 5.2's GUI at 1x: a label in a box gets about 225 of the region's 292 px, 199 after an icon).
_MARGIN_PX = 72
_ICON_PX = 24


def _fits(text: str, width: float) -> bool:
    return blf.dimensions(0, text)[0] <= width


def wrap(text: str, width_px: float) -> list[str]:
    """Greedy word wrap so each line measures at most ``width_px`` in the current blf size."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}" if line else word
            if line and not _fits(candidate, width_px):
                lines.append(line)
                line = word
            else:
                line = candidate
        lines.append(line)
    return lines


def _use_ui_font(context) -> None:
    prefs = context.preferences
    blf.size(0, prefs.ui_styles[0].widget.points * prefs.system.ui_scale)


def measure(context, texts) -> float:
    """The widest of ``texts`` in pixels as the UI font draws labels in this region."""
    _use_ui_font(context)
    return max((blf.dimensions(0, text)[0] for text in texts), default=0.0)


def room(context, icon: bool = False) -> float:
    """The pixels a label gets across this sidebar region (inside a box or a list)."""
    scale = context.preferences.system.ui_scale
    return context.region.width - (_MARGIN_PX + (_ICON_PX if icon else 0)) * scale


def label(layout, context, text: str, icon: str = "NONE", max_lines: int = 8) -> None:
    """``text`` as as many labels as it needs at this region's width (lines after the first are
    indented under the icon); beyond ``max_lines`` the last line ends with an ellipsis."""
    _use_ui_font(context)
    lines = wrap(text, max(room(context, icon != "NONE"), 40 * context.preferences.system.ui_scale))
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] += " ..."
    col = layout.column(align=True)
    col.scale_y = 0.8
    for i, line in enumerate(lines):
        col.label(text=line, icon=icon if i == 0 else ("BLANK1" if icon != "NONE" else "NONE"))
