"""The bpy layer. Each feature is a folder (operator.py, prop.py, ui.py, data.py); this module
holds the one ``classes`` tuple that register()/unregister() walk, in dependency order."""

import atexit

import bpy

from . import prefs
from .demo import operator as demo_operator
from .performance import operator as performance_operator, prop as performance_prop, ui as performance_ui
from .generate import operator as generate_operator, prop as generate_prop, ui as generate_ui
from .rig import operator as rig_operator, prop as rig_prop, ui as rig_ui
from .sidecar import data as sidecar_data, operator as sidecar_operator, ui as sidecar_ui
from .takes import operator as takes_operator, prop as takes_prop, ui as takes_ui

classes = (
    prefs.MouthpiecePreferences,
    rig_prop.MouthpieceMappingItem,
    takes_prop.MouthpieceTake,
    rig_prop.MouthpieceObjectSettings,
    rig_prop.MouthpieceObjectRecord,
    performance_prop.MouthpiecePerformance,
    generate_prop.MouthpieceSceneSettings,
    sidecar_operator.MOUTHPIECE_OT_sidecar_start,
    sidecar_operator.MOUTHPIECE_OT_sidecar_stop,
    sidecar_operator.MOUTHPIECE_OT_sidecar_check,
    rig_operator.MOUTHPIECE_OT_auto_map,
    rig_operator.MOUTHPIECE_OT_make_shape_keys_editable,
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
    performance_operator.MOUTHPIECE_OT_reset_performance,
    performance_operator.MOUTHPIECE_OT_keep_style,
    performance_operator.MOUTHPIECE_OT_match_style,
    demo_operator.MOUTHPIECE_OT_add_demo_head,
    rig_ui.MOUTHPIECE_UL_mapping,
    takes_ui.MOUTHPIECE_UL_takes,
    sidecar_ui.MOUTHPIECE_PT_main,
    rig_ui.MOUTHPIECE_PT_rig,
    generate_ui.MOUTHPIECE_PT_generate,
    performance_ui.MOUTHPIECE_PT_performance,
    takes_ui.MOUTHPIECE_PT_takes,
)


def _add_menu(self, context):
    self.layout.operator(demo_operator.MOUTHPIECE_OT_add_demo_head.bl_idname, icon="MONKEY")


_registered = False


def register():
    global _registered
    for cls in classes:
        bpy.utils.register_class(cls)
    # Overridable, so that a library override of a linked rig can keep its own mapping and takes.
    bpy.types.Object.mouthpiece = bpy.props.PointerProperty(type=rig_prop.MouthpieceObjectSettings,
                                                            override={"LIBRARY_OVERRIDABLE"})
    bpy.types.Scene.mouthpiece = bpy.props.PointerProperty(type=generate_prop.MouthpieceSceneSettings)
    # Never saved: what an object reads until its settings are stored in the scene (rig.data.settings_of).
    bpy.types.WindowManager.mouthpiece_blank = bpy.props.PointerProperty(type=rig_prop.MouthpieceObjectSettings)
    bpy.types.VIEW3D_MT_mesh_add.append(_add_menu)
    sidecar_operator.check_soon()
    if getattr(bpy.app, "module", False):
        atexit.register(_unregister_at_exit)
    _registered = True


def _unregister_at_exit():
    """bpy as a Python module (PyPI) shuts Blender down only when the interpreter frees the
    ``bpy`` module, and a registered class keeps it alive (Blender holds the class, the class's
    functions hold their module, which holds ``bpy``). Blender's exit then never runs, its audio
    thread is never stopped, and bpy 4.5's static destructors wait for that thread for ever: a
    script that registers the add-on and ends would hang. Unregistering at exit frees ``bpy``."""
    try:
        unregister()
    except Exception as exc:  # never turn a finished script into a failed one
        print(f"Mouthpiece: unregister at exit failed: {exc!r}")


def unregister():
    # Once only: an extension enabled in the preferences is also disabled by Blender's own exit,
    # after the exit hook above has already unregistered it.
    global _registered
    if not _registered:
        return
    _registered = False
    atexit.unregister(_unregister_at_exit)
    generate_operator.cancel_running_job()
    sidecar_data.SIDECAR.stop()
    bpy.types.VIEW3D_MT_mesh_add.remove(_add_menu)
    del bpy.types.WindowManager.mouthpiece_blank
    del bpy.types.Scene.mouthpiece
    del bpy.types.Object.mouthpiece
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
