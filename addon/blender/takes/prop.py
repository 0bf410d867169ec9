import bpy

OVERRIDABLE = {"LIBRARY_OVERRIDABLE"}  # see rig/prop.py: takes can be added on a library override


class MouthpieceTake(bpy.types.PropertyGroup):
    # ``name`` (built in): the label shown in the list
    seed: bpy.props.IntProperty(name="Seed", description="The seed that reproduces this take", override=OVERRIDABLE)
    action: bpy.props.PointerProperty(type=bpy.types.Action, name="Action", override=OVERRIDABLE,
                                      description="The animation with this take in the range")
