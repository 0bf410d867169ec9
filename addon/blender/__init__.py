"""The bpy layer. Each feature is a folder (operator.py, prop.py, ui.py, data.py); this module
holds the one ``classes`` tuple that register()/unregister() walk, in dependency order."""

import bpy

from . import prefs
from .demo import operator as demo_operator
from .generate import operator as generate_operator, prop as generate_prop, ui as generate_ui
from .rig import operator as rig_operator, prop as rig_prop, ui as rig_ui
from .sidecar import data as sidecar_data, operator as sidecar_operator, ui as sidecar_ui
from .takes import operator as takes_operator, prop as takes_prop, ui as takes_ui

classes = (
    prefs.MouthpiecePreferences,
    rig_prop.MouthpieceMappingItem,
    takes_prop.MouthpieceTake,
    rig_prop.MouthpieceObjectSettings,
    generate_prop.MouthpieceSceneSettings,
    sidecar_operator.MOUTHPIECE_OT_sidecar_start,
    sidecar_operator.MOUTHPIECE_OT_sidecar_stop,
    sidecar_operator.MOUTHPIECE_OT_sidecar_check,
    rig_operator.MOUTHPIECE_OT_auto_map,
    generate_operator.MOUTHPIECE_OT_generate,
    generate_operator.MOUTHPIECE_OT_inbetween,
    generate_operator.MOUTHPIECE_OT_regenerate_range,
    generate_operator.MOUTHPIECE_OT_pin_pose,
    generate_operator.MOUTHPIECE_OT_keys_to_pins,
    generate_operator.MOUTHPIECE_OT_cancel,
    takes_operator.MOUTHPIECE_OT_variations,
    takes_operator.MOUTHPIECE_OT_preview_take,
    takes_operator.MOUTHPIECE_OT_apply_take,
    takes_operator.MOUTHPIECE_OT_delete_take,
    takes_operator.MOUTHPIECE_OT_use_take_seed,
    takes_operator.MOUTHPIECE_OT_discard_takes,
    demo_operator.MOUTHPIECE_OT_add_demo_head,
    rig_ui.MOUTHPIECE_UL_mapping,
    takes_ui.MOUTHPIECE_UL_takes,
    sidecar_ui.MOUTHPIECE_PT_main,
    rig_ui.MOUTHPIECE_PT_rig,
    generate_ui.MOUTHPIECE_PT_generate,
    takes_ui.MOUTHPIECE_PT_takes,
)


def _add_menu(self, context):
    self.layout.operator(demo_operator.MOUTHPIECE_OT_add_demo_head.bl_idname, icon="MONKEY")


def register():
    for cls in classes:
        bpy.utils.register_class(cls)
    bpy.types.Object.mouthpiece = bpy.props.PointerProperty(type=rig_prop.MouthpieceObjectSettings)
    bpy.types.Scene.mouthpiece = bpy.props.PointerProperty(type=generate_prop.MouthpieceSceneSettings)
    bpy.types.VIEW3D_MT_mesh_add.append(_add_menu)
    sidecar_operator.check_soon()


def unregister():
    generate_operator.cancel_running_job()
    sidecar_data.SIDECAR.stop()
    bpy.types.VIEW3D_MT_mesh_add.remove(_add_menu)
    del bpy.types.Scene.mouthpiece
    del bpy.types.Object.mouthpiece
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
