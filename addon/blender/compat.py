"""The Blender API differences Mouthpiece meets, in one place.

- 4.4 introduced slotted (layered) actions: an Action holds slots, layers, keyframe strips and,
  per slot, a channelbag with the F-curves. ``Action.fcurves`` stayed as a legacy view in 4.4/4.5
  and was removed in 5.0. On 4.2/4.3 there are no slots: F-curves live in ``Action.fcurves``.
- 4.4 renamed the sequencer's ``sequences`` to ``strips`` (``sequences`` removed in 5.0).
- 5.2 renamed a strip's ``frame_start`` / ``frame_final_start`` / ``frame_final_end`` to
  ``content_start`` / ``left_handle`` / ``right_handle`` (the old names are deprecated).
"""

from __future__ import annotations

import bpy

SLOTTED_ACTIONS = hasattr(bpy.types, "ActionSlot")


def sequencer_strips(scene) -> list:
    """Every strip of the scene's sequencer, inside meta strips too ([] without a sequencer)."""
    editor = scene.sequence_editor
    if editor is None:
        return []
    strips = getattr(editor, "strips_all", None)
    if strips is None:
        strips = editor.sequences_all
    return list(strips)


def strip_span(strip) -> tuple[float, float, float]:
    """(content start, first frame heard, frame where it stops being heard) of a strip."""
    if hasattr(strip, "left_handle"):
        return strip.content_start, strip.left_handle, strip.right_handle
    return strip.frame_start, strip.frame_final_start, strip.frame_final_end


def channel_muted(scene, channel: int) -> bool:
    editor = scene.sequence_editor
    channels = getattr(editor, "channels", None) if editor else None
    if channels is None or not 0 <= channel < len(channels):
        return False
    return bool(channels[channel].mute)


def _slot_for(action, id_block, create: bool):
    """The action's slot for ``id_block``: the assigned one, else one with its identifier."""
    ad = id_block.animation_data
    if ad is not None and ad.action == action and ad.action_slot is not None:
        return ad.action_slot
    identifier = id_block.id_type[:2] + id_block.name  # Blender's rule: "KE" + name for a Key
    for slot in action.slots:
        if slot.identifier == identifier:
            return slot
    suitable = [s for s in action.slots if s.target_id_type in (id_block.id_type, "UNSPECIFIED")]
    if len(suitable) == 1:
        return suitable[0]
    if not create:
        return None
    return action.slots.new(id_type=id_block.id_type, name=id_block.name)


def fcurves_of(action, id_block, create: bool = False):
    """The F-curve collection of ``action`` that animates ``id_block`` (None if it has none)."""
    if not SLOTTED_ACTIONS:
        return action.fcurves
    slot = _slot_for(action, id_block, create)
    if slot is None:
        return None
    if not action.layers:
        if not create:
            return None
        action.layers.new("Layer")
    layer = action.layers[0]
    if not layer.strips:
        if not create:
            return None
        layer.strips.new(type="KEYFRAME")
    channelbag = layer.strips[0].channelbag(slot, ensure=create)
    return None if channelbag is None else channelbag.fcurves


def assign_action(id_block, action) -> None:
    """Make ``action`` animate ``id_block`` (choosing its slot where slots exist)."""
    ad = id_block.animation_data or id_block.animation_data_create()
    ad.action = action
    if SLOTTED_ACTIONS and action is not None and ad.action_slot is None:
        ad.action_slot = _slot_for(action, id_block, create=True)


def new_action_for(id_block, name: str):
    """An empty action ready to animate ``id_block`` (with its slot where slots exist)."""
    action = bpy.data.actions.new(name)
    if SLOTTED_ACTIONS:
        fcurves_of(action, id_block, create=True)
    return action


def keyframe_enum(prop: str, name: str) -> int:
    """The integer ``foreach_set`` wants for an enum value of ``bpy.types.Keyframe``."""
    return bpy.types.Keyframe.bl_rna.properties[prop].enum_items[name].value
