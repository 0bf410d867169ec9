"""The Performance settings (``Scene.mouthpiece.performance``): a value and a "set" switch for each
style key (addon.core.performance), and the style guidance. Saved with the .blend and undone with
the scene; an unset key is drawn by the model per take."""

import bpy

from ...core import performance

OVERRIDABLE = {"LIBRARY_OVERRIDABLE"}


def _value(key: str):
    label, description = performance.LABELS[key], performance.DESCRIPTIONS[key]
    if key == "emotion":
        return bpy.props.EnumProperty(
            name=label, description=description, default=performance.DEFAULTS[key], override=OVERRIDABLE,
            items=[(e, e.capitalize(), f"The face shows {e}" if e != "neutral" else "No emotion")
                   for e in performance.EMOTIONS])
    low, high = performance.RANGES[key]
    return bpy.props.FloatProperty(name=label, description=description, default=performance.DEFAULTS[key],
                                   min=low, max=high, step=5, precision=2, override=OVERRIDABLE)


def _switch(key: str):
    label = performance.LABELS[key]
    return bpy.props.BoolProperty(
        name=f"Set {label}", default=False, override=OVERRIDABLE,
        description=f"Ask every take for this {label.lower()}; off: the model draws it per take, so takes differ")


_annotations = {}
for _key in performance.KEYS:
    _annotations[_key] = _value(_key)
    _annotations[f"use_{_key}"] = _switch(_key)
_annotations["style_guidance"] = bpy.props.FloatProperty(
    name="Style Guidance", default=performance.STYLE_GUIDANCE_OFF, min=0.0, max=performance.STYLE_GUIDANCE_MAX,
    soft_max=4.0, step=10, precision=1, override=OVERRIDABLE,
    description="How strongly the set style is followed: 1 is off (the model's own balance); higher "
                "strengthens it")

MouthpiecePerformance = type("MouthpiecePerformance", (bpy.types.PropertyGroup,),
                             {"__annotations__": _annotations, "__doc__": __doc__.splitlines()[0]})
