"""The Generate sub-panel: the actions, their options, and the running job's progress."""

import bpy

from ...core import arkit
from .. import compat, ui_text
from . import data
from .job import scene_range
from ..performance import data as performance_data
from ..panel import SidebarPanel


class MOUTHPIECE_PT_generate(SidebarPanel, bpy.types.Panel):
    bl_label = "Generate"
    bl_parent_id = "MOUTHPIECE_PT_main"

    def draw(self, context):
        layout = self.layout
        scene = context.scene
        settings = scene.mouthpiece
        if data.ACTIVE.running:
            progress, stage, what = data.ACTIVE.status()
            box = layout.box()
            box.label(text=f"{what.capitalize()}...", icon="SORTTIME")
            row = box.row(align=True)
            if hasattr(row, "progress"):
                row.progress(factor=progress, type="BAR", text=f"{stage} ({progress:.0%})")
            else:
                row.label(text=f"{stage} ({progress:.0%})")
            row.operator("mouthpiece.cancel", text="", icon="X")
            ui_text.label(box, context, "Esc cancels. Nothing changes until the job finishes.", icon="INFO")
        start, end = scene_range(scene)
        col = layout.column(align=True)
        col.enabled = not data.ACTIVE.running
        row = col.row(align=True)
        row.scale_y = 1.5
        row.operator("mouthpiece.generate", icon="PLAY_SOUND")
        col.label(text=f"Frames {start}-{end}" + (" (preview range)" if scene.use_preview_range else ""))
        row = col.row(align=True)
        row.operator("mouthpiece.pin_pose", icon="PINNED")
        row.operator("mouthpiece.inbetween", icon="IPO_BEZIER")
        row = col.row(align=True)
        row.operator("mouthpiece.pin_pose", text="Pin Selected", icon="RESTRICT_SELECT_OFF").selected_only = True
        row.operator("mouthpiece.keys_to_pins", icon="KEYFRAME_HLT")
        col.operator("mouthpiece.regenerate_range", icon="FILE_REFRESH")
        col.separator()
        # The channel groups an operation writes, as toggles beside their heading (rows are what
        # keeps the Takes panel on a 1080p screen with Rig open).
        split = col.split(factor=0.28, align=True)
        split.label(text="Channels")
        grid = split.grid_flow(row_major=True, columns=3, even_columns=True, align=True)
        for group in arkit.GROUPS:
            grid.prop(settings, f"use_{group}", toggle=True)

        layout.use_property_split = True
        layout.use_property_decorate = False
        col = layout.column()
        col.row().prop(settings, "audio_source", expand=True)
        if settings.audio_source == "STRIP":
            editor = scene.sequence_editor
            if editor is not None:
                collection = "strips_all" if hasattr(editor, "strips_all") else "sequences_all"
                col.prop_search(settings, "audio_strip", editor, collection, icon="SOUND")
            else:
                col.label(text="No sequencer strips", icon="ERROR")
        elif not any(s.type == "SOUND" for s in compat.sequencer_strips(scene)):
            ui_text.label(col, context, "Add a sound strip in the Video Sequencer", icon="ERROR")
        col.prop(settings, "language")
        col.prop(settings, "dialogue", text="Dialogue")
        if not settings.dialogue.strip():
            only = settings.audio_strip if settings.audio_source == "STRIP" else ""
            text, source = performance_data.dialogue(scene, performance_data.strip_spans(scene, only), (start, end))
            if source == "strips":
                ui_text.label(col, context, f"From text strips: \u201c{text[:60]}\u201d", icon="FONT_DATA")
        col.prop(settings, "use_pins")
        col.prop(settings, "offset")
        # Full width, not split: "Every Frame" and the slider's text must not be cut at the default
        # sidebar width; the slider says the tolerance it gives (no extra row).
        keys = layout.column(align=True)
        keys.use_property_split = False
        keys.row(align=True).prop(settings, "key_mode", expand=True)
        sub = keys.row(align=True)
        sub.active = settings.key_mode == "REDUCED"
        sub.prop(settings, "simplify", slider=True, text=f"Simplify (\u00b1{settings.tolerance:.3f})")
        header, panel = layout.panel("mouthpiece_generate_options", default_closed=True) \
            if hasattr(layout, "panel") else (None, None)
        if header is not None:
            header.label(text="Sampling")
            target = panel
        else:
            target = layout.column()
        if target is not None:
            target.prop(settings, "use_random_seed")
            sub = target.column()
            sub.active = not settings.use_random_seed
            sub.prop(settings, "seed")
            target.prop(settings, "steps")
            target.prop(settings, "guidance")
            target.prop(settings, "lip_closure", slider=True)
