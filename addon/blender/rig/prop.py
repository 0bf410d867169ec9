"""What Mouthpiece stores on a mesh object: the ARKit mapping and the takes.

Every property is LIBRARY_OVERRIDABLE, and the lists also USE_INSERTION, so that on a library
override of a linked rig the mapping can be edited and stored, and takes added: Blender saves
those edits as the override's own operations (items from the library can be edited but not
removed; items added on the override can). ``Object.mouthpiece`` itself is overridable
(addon/blender/__init__.py)."""

import bpy

from ..takes.prop import MouthpieceTake, takes_index_changed

OVERRIDABLE = {"LIBRARY_OVERRIDABLE"}
OVERRIDABLE_LIST = {"LIBRARY_OVERRIDABLE", "USE_INSERTION"}


class MouthpieceMappingItem(bpy.types.PropertyGroup):
    # ``name`` (built in) is the ARKit channel, so the list's name filter finds channels.
    shape_key: bpy.props.StringProperty(name="Shape Key", description="The shape key this ARKit channel drives",
                                        override=OVERRIDABLE)


class MouthpieceObjectSettings(bpy.types.PropertyGroup):
    mapping: bpy.props.CollectionProperty(type=MouthpieceMappingItem, override=OVERRIDABLE_LIST)
    mapping_index: bpy.props.IntProperty(name="Active Channel", override=OVERRIDABLE)
    show_report: bpy.props.BoolProperty(name="Show Report", default=False, override=OVERRIDABLE)
    takes: bpy.props.CollectionProperty(type=MouthpieceTake, override=OVERRIDABLE_LIST)
    takes_index: bpy.props.IntProperty(name="Active Take", default=-1, update=takes_index_changed, override=OVERRIDABLE,
                                       description="The take shown in the viewport and that Apply Selected keeps")
    takes_original: bpy.props.PointerProperty(type=bpy.types.Action, name="Original Action", override=OVERRIDABLE)
    takes_start: bpy.props.IntProperty(name="Takes Start", override=OVERRIDABLE)
    takes_end: bpy.props.IntProperty(name="Takes End", override=OVERRIDABLE)
    previewing: bpy.props.IntProperty(name="Previewed Take", default=-1, override=OVERRIDABLE,
                                      description="The take shown in the viewport; -1: the original animation")


class MouthpieceObjectRecord(bpy.types.PropertyGroup):
    """The settings of an object that cannot keep its own (``Scene.mouthpiece.objects``; see
    ``rig.data.settings_of``): a Blender 5 library override of an object on which nothing was
    stored in its library."""

    object: bpy.props.PointerProperty(type=bpy.types.Object, name="Object")
    settings: bpy.props.PointerProperty(type=MouthpieceObjectSettings)
