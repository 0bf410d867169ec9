"""Mouthpiece: speech-driven facial animation on ARKit shape keys (a Blender extension).

``addon.core`` is pure standard-library Python shared with the sidecar; ``addon.blender`` is the
bpy layer. bpy is imported only inside ``register()``/``unregister()`` so that importing
``addon.core`` works outside Blender. A script can register the add-on without installing it:
put the repository root on ``sys.path``, ``import addon`` and call ``addon.register()``.
"""


def register():
    from . import blender

    blender.register()


def unregister():
    from . import blender

    blender.unregister()
