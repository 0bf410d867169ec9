"""What Mouthpiece stores on a mesh object: the ARKit mapping and the takes."""

import bpy

from ..takes.prop import MouthpieceTake, takes_index_changed


class MouthpieceMappingItem(bpy.types.PropertyGroup):
    # ``name`` (built in) is the ARKit channel, so the list's name filter finds channels.
    shape_key: bpy.props.StringProperty(name="Shape Key", description="The shape key this ARKit channel drives")


class MouthpieceObjectSettings(bpy.types.PropertyGroup):
    mapping: bpy.props.CollectionProperty(type=MouthpieceMappingItem)
    mapping_index: bpy.props.IntProperty(name="Active Channel")
    show_report: bpy.props.BoolProperty(name="Show Report", default=False)
    takes: bpy.props.CollectionProperty(type=MouthpieceTake)
    takes_index: bpy.props.IntProperty(name="Active Take", default=-1, update=takes_index_changed,
                                       description="The take shown in the viewport and that Apply Selected keeps")
    takes_original: bpy.props.PointerProperty(type=bpy.types.Action, name="Original Action")
    takes_start: bpy.props.IntProperty(name="Takes Start")
    takes_end: bpy.props.IntProperty(name="Takes End")
    previewing: bpy.props.IntProperty(name="Previewed Take", default=-1,
                                      description="The take shown in the viewport; -1: the original animation")
