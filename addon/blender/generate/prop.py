"""Per-scene generation settings (saved with the .blend)."""

import bpy

from ...core.jobplan import GROUP_LABELS
from ...core.keyreduce import DEFAULT_SIMPLIFY, tolerance_for
from ...core import performance
from ..performance.prop import MouthpiecePerformance
from ..rig.prop import MouthpieceObjectRecord

OVERRIDABLE = {"LIBRARY_OVERRIDABLE"}


def _group_toggle(group: str):
    label = GROUP_LABELS[group]
    return bpy.props.BoolProperty(
        name=label, default=True,
        description=f"Generate the {label.lower()} channels; switched off, they keep their animation and the "
                    "model fits the rest of the face to them")


class MouthpieceSceneSettings(bpy.types.PropertyGroup):
    # The mapping and takes of the objects that cannot keep them on themselves (rig.data.settings_of).
    objects: bpy.props.CollectionProperty(type=MouthpieceObjectRecord)
    audio_source: bpy.props.EnumProperty(
        name="Audio",
        items=(("MIX", "Mix", "Mix down every sound strip heard in the frame range"),
               ("STRIP", "One Strip", "Use a single sound strip")),
        default="MIX",
    )
    audio_strip: bpy.props.StringProperty(name="Strip", description="The sound strip to use")
    use_pins: bpy.props.BoolProperty(
        name="Keep Keys as Pins", default=True,
        description="Your own keys on mapped channels inside the range are met exactly and kept "
                    "(keys Mouthpiece wrote, shown as Generated keys, are replaced)",
    )
    key_mode: bpy.props.EnumProperty(
        name="Keys",
        items=(("REDUCED", "Reduced", "Keys on the peaks, closures and pins, and only as many between as it takes "
                                      "to stay within the Simplify tolerance of the generated curve"),
               ("EVERY_FRAME", "Every Frame", "A key on every frame")),
        default="REDUCED",
    )
    simplify: bpy.props.FloatProperty(
        name="Simplify", default=DEFAULT_SIMPLIFY, min=0.0, max=1.0, subtype="FACTOR",
        description="Fewer keys (right) or a closer fit (left): the keyed curve stays within 0.002 (at 0) "
                    "to 0.2 (at 1) of the generated one at every frame, 0.02 at the default 0.5. Peaks, lip "
                    "closures and pins are always keyed exactly",
    )
    seed: bpy.props.IntProperty(name="Seed", default=0, min=0, description="Same seed, same result")
    use_random_seed: bpy.props.BoolProperty(name="Random Seed", default=False,
                                            description="A new seed each time (the take records it)")
    steps: bpy.props.IntProperty(name="Steps", default=0, min=0, max=200,
                                 description="Sampler steps; 0: the add-on preference")
    guidance: bpy.props.FloatProperty(name="Guidance", default=0.0, min=0.0, max=10.0,
                                      description="Audio guidance; 0: the add-on preference")
    lip_closure: bpy.props.FloatProperty(
        name="Lip Closures", default=1.0, min=0.0, max=1.0, subtype="FACTOR",
        description="How firmly the lips close on the p, b and m that speech recognition finds "
                    "(0: only where the model closes them by itself)")
    takes: bpy.props.IntProperty(name="Takes", default=0, min=0, max=16,
                                 description="How many takes Variations makes; 0: the add-on preference")
    show_options: bpy.props.BoolProperty(name="Options", default=False)
    # Channel groups an operation writes (addon.core.arkit.GROUPS); job.groups_off reads them by name.
    use_jaw_mouth: _group_toggle("jaw_mouth")
    use_eyes: _group_toggle("eyes")
    use_brows: _group_toggle("brows")
    use_cheeks_nose: _group_toggle("cheeks_nose")
    use_tongue: _group_toggle("tongue")
    offset: bpy.props.FloatProperty(
        name="Mouth Lead", default=0.0, min=-24.0, max=24.0, soft_min=-4.0, soft_max=4.0, step=100, precision=1,
        description="Frames by which the mouth leads the sound (negative: lags). Animators often lead by 1-2 "
                    "frames so the shape reads as the sound is heard")

    # The performance (Performance panel) and the speech: what every job of this scene asks for.
    performance: bpy.props.PointerProperty(type=MouthpiecePerformance, override=OVERRIDABLE)
    language: bpy.props.EnumProperty(
        name="Language", default=performance.AUTO_LANGUAGE, override=OVERRIDABLE,
        description="The language spoken: the lip closures of English words are placed only for English",
        items=[(performance.AUTO_LANGUAGE, "Auto", "Not said: English word recognition adds its lip closures "
                                                   "beside the model's own (choose the language, or Other, for "
                                                   "speech that is not English)")]
              + [(code, name, f"{name} ({code})") for code, name in performance.LANGUAGES]
              + [(performance.OTHER_LANGUAGE[0], performance.OTHER_LANGUAGE[1],
                  "A language not listed: the model's own closure detector alone, no English word recognition")])
    dialogue: bpy.props.StringProperty(
        name="Dialogue", override=OVERRIDABLE,
        description="What is said (sent with the job, so lip closures and vowels follow the words). Empty: the "
                    "text of a text strip over the sound strip in the Video Sequencer, if there is one")

    @property
    def tolerance(self) -> float:
        """The largest difference between the keyed curve and the generated one (from Simplify)."""
        return tolerance_for(self.simplify)
