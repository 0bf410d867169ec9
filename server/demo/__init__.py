"""The demo (`scripts/demo`): the whole pipeline on the shipped sample sentence in real headless
Blender. ``run`` drives it (sidecar, Blender, figures, summary), ``story`` decides which frames
the demo pins, regenerates and varies (from a forced alignment of the sentence), ``figures``
draws out/demo.png and out/demo_strip.png. scripts/demo_blender.py is the part inside Blender.
"""
