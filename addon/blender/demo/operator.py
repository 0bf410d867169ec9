import bpy

from . import head


def _material(name: str, rgba) -> bpy.types.Material:
    mat = bpy.data.materials.get(name)
    if mat is None:
        mat = bpy.data.materials.new(name)
        mat.diffuse_color = rgba
        mat.roughness = 0.6
        if bpy.app.version < (5, 0, 0):
            mat.use_nodes = True  # always on (and deprecated) from 5.0
        bsdf = mat.node_tree.nodes.get("Principled BSDF") if mat.node_tree else None
        if bsdf is not None:
            bsdf.inputs["Base Color"].default_value = rgba
    return mat


def build_demo_head(collection, name: str = "Mouthpiece Demo Head") -> bpy.types.Object:
    verts, faces, face_materials, parts = head.build_head()
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(verts, [], faces)
    for mat_name, rgba in head.MATERIALS.items():
        mesh.materials.append(_material(mat_name, rgba))
    mesh.polygons.foreach_set("material_index", face_materials)
    mesh.polygons.foreach_set("use_smooth", [True] * len(faces))
    mesh.update()
    obj = bpy.data.objects.new(name, mesh)
    collection.objects.link(obj)
    obj.shape_key_add(name="Basis", from_mix=False)
    for channel, positions in head.all_shapes(verts, parts).items():
        block = obj.shape_key_add(name=channel, from_mix=False)
        block.data.foreach_set("co", [c for p in positions for c in p])
        block.value = 0.0  # a neutral face at rest (Blender 5.0 creates shape keys at value 1)
    mesh.shape_keys.name = f"{name} Keys"
    return obj


class MOUTHPIECE_OT_add_demo_head(bpy.types.Operator):
    """Add a head with all 52 ARKit shape keys, for trying Mouthpiece without a rig"""

    bl_idname = "mouthpiece.add_demo_head"
    bl_label = "Mouthpiece Demo Head"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        obj = build_demo_head(context.collection)
        obj.location = context.scene.cursor.location
        for other in context.selected_objects:
            other.select_set(False)
        obj.select_set(True)
        context.view_layer.objects.active = obj
        self.report({"INFO"}, f"Added '{obj.name}' with {len(obj.data.shape_keys.key_blocks) - 1} ARKit shape keys")
        return {"FINISHED"}
