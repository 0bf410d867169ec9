import bpy


class MouthpieceTake(bpy.types.PropertyGroup):
    # ``name`` (built in): the label shown in the list
    seed: bpy.props.IntProperty(name="Seed", description="The seed that reproduces this take")
    action: bpy.props.PointerProperty(type=bpy.types.Action, name="Action",
                                      description="The animation with this take in the range")
