import bpy

OVERRIDABLE = {"LIBRARY_OVERRIDABLE"}  # see rig/prop.py: takes can be added on a library override


def takes_index_changed(settings, context) -> None:
    """The update of the takes list's active row: the selected take is the previewed one."""
    from .operator import selection_changed  # the operators import the properties

    selection_changed(settings)


class MouthpieceTake(bpy.types.PropertyGroup):
    # ``name`` (built in): the label shown in the list
    seed: bpy.props.IntProperty(name="Seed", description="The seed that reproduces this take", override=OVERRIDABLE)
    action: bpy.props.PointerProperty(type=bpy.types.Action, name="Action", override=OVERRIDABLE,
                                      description="The animation with this take in the range")
    # The style it was drawn with, as JSON (the job's style keys); "" for a model without style input.
    style: bpy.props.StringProperty(name="Style", override=OVERRIDABLE,
                                    description="The performance style this take was drawn with")
    # The shape keys the take wrote, one per line: Apply copies only these (locked, muted and
    # switched-off channels were kept, and stay untouched).
    shape_keys: bpy.props.StringProperty(name="Shape Keys")
