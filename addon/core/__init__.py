"""The add-on's pure core: standard-library Python only, never bpy or torch.

The sidecar imports the same modules (``addon.core.arkit`` and friends), so the
ARKit channel contract, curve files, resampling and key reduction exist once and
are unit-tested without Blender.
"""
