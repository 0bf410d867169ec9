"""Shape keys <-> ARKit channels: the automatic mapping and its report.

The matching rules themselves (case, PascalCase, snake_case, side markers, rig prefixes) are
``addon.core.arkit.match_names``; this module applies them to a rig's shape keys, leaves out the
reference ("Basis") key, and says what is missing, unused or inconsistent in a mapping an
animator has edited.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

from . import arkit


def auto_map(shape_key_names: Iterable[str], reference: str | None = None) -> dict[str, str]:
    """ARKit channel -> shape key name, for every channel some key stands for.

    ``reference`` is the rig's basis key: it is never a target.
    """
    names = [n for n in shape_key_names if n != reference]
    return arkit.match_names(names)


@dataclass
class MappingReport:
    """What an animator needs to know about a mapping."""

    mapped: dict[str, str]                      # channel -> shape key, valid entries only
    unmapped_channels: list[str]                # ARKit channels no shape key drives
    unused_keys: list[str]                      # shape keys no channel drives (basis excluded)
    problems: list[str] = field(default_factory=list)  # entries that cannot be used, and why

    @property
    def ok(self) -> bool:
        return bool(self.mapped) and not self.problems

    def summary(self) -> str:
        text = f"{len(self.mapped)} of {arkit.NUM_CHANNELS} ARKit channels mapped"
        if self.unused_keys:
            text += f", {len(self.unused_keys)} shape key(s) unused"
        if self.problems:
            text += f", {len(self.problems)} problem(s)"
        return text


def check_mapping(
    mapping: Mapping[str, str], shape_key_names: Iterable[str], reference: str | None = None
) -> MappingReport:
    """Validate ``mapping`` (channel -> shape key; empty target = unmapped) against a rig.

    An entry is unusable when its channel is not an ARKit name, its shape key does not exist,
    it targets the reference key, or another channel already drives the same key.
    """
    keys = [n for n in shape_key_names]
    key_set = set(keys)
    mapped: dict[str, str] = {}
    problems: list[str] = []
    driven_by: dict[str, str] = {}
    for channel, key in mapping.items():
        if not key:
            continue
        if channel not in arkit.INDEX:
            problems.append(f"'{channel}' is not an ARKit channel name")
            continue
        if key not in key_set:
            problems.append(f"{channel}: shape key '{key}' does not exist on this mesh")
            continue
        if reference is not None and key == reference:
            problems.append(f"{channel}: '{key}' is the reference (basis) key and cannot be animated")
            continue
        if key in driven_by:
            problems.append(f"{channel}: shape key '{key}' is already driven by {driven_by[key]}")
            continue
        driven_by[key] = channel
        mapped[channel] = key
    unmapped = [c for c in arkit.CHANNELS if c not in mapped]
    unused = [k for k in keys if k != reference and k not in driven_by]
    return MappingReport(mapped=mapped, unmapped_channels=unmapped, unused_keys=unused, problems=problems)
