"""scripts/render_styles: the same line in several performance styles, rendered on the demo head.

    .venv/bin/python scripts/render_styles.py [--checkpoint DIR] [--audio WAV] [--out PNG]

Generates the line once per style (three emotions x two articulation settings, every other
control at the neutral speaker, the same seed), picks two moments (the frame where the neutral
take opens the mouth widest and a quiet frame), renders the head in headless Blender
(.venv-bpy45, scripts/render_styles_blender.py) and puts the renders in one labelled grid.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

EMOTIONS = ("neutral", "happy", "sad")
ARTICULATION = (0.5, 1.8)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint")
    parser.add_argument("--audio", default=str(ROOT / "server" / "samples" / "hello.wav"))
    parser.add_argument("--out", default=str(ROOT / "docs" / "images" / "styles.png"))
    parser.add_argument("--size", type=int, default=360)
    parser.add_argument("--blender", default=str(ROOT / ".venv-bpy45" / "bin" / "python"))
    args = parser.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from addon.core.arkit import INDEX
    from server.audio import load_audio
    from server.engine import Engine, GenerationRequest
    from server.face.lip_opening import lip_opening

    engine = Engine.from_checkpoint(args.checkpoint, device="cpu")
    audio = load_audio(args.audio)
    base = {"smile": 0.0, "asymmetry": 0.0, "brow_activity": 1.0, "blink_rate": 0.0, "gaze_activity": 0.0}
    takes = {}
    for a in ARTICULATION:
        for e in EMOTIONS:
            style = {**base, "articulation": a, "emotion": e, **({"intensity": 1.0} if e != "neutral" else {})}
            takes[(a, e)] = engine.generate(GenerationRequest(audio=audio, fps=30.0, seed=3, style=style)).takes[0]
            print(f"[render_styles] generated articulation {a}, {e}", flush=True)
    reference = takes[(ARTICULATION[-1], "neutral")]
    frame = int(np.argmax(lip_opening(reference)))
    poses = [{"label": f"{e}, articulation {a}", "values": takes[(a, e)][frame].tolist()}
             for a in ARTICULATION for e in EMOTIONS]
    with tempfile.TemporaryDirectory() as tmp:
        plan = Path(tmp) / "plan.json"
        plan.write_text(json.dumps({"poses": poses, "size": args.size, "out_dir": tmp}))
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        subprocess.run([args.blender, str(ROOT / "scripts" / "render_styles_blender.py"), str(plan)],
                       check=True, env=env)
        images = [plt.imread(str(Path(tmp) / f"pose_{n}.png")) for n in range(len(poses))]
    fig, axes = plt.subplots(len(ARTICULATION), len(EMOTIONS), figsize=(3 * len(EMOTIONS), 3.2 * len(ARTICULATION)))
    for ax, pose, image in zip(axes.ravel(), poses, images):
        ax.imshow(image)
        ax.set_axis_off()
        ax.set_title(pose["label"], fontsize=10)
    jaw = {k: float(v[frame, INDEX["jawOpen"]]) for k, v in takes.items()}
    fig.suptitle(f"{Path(args.audio).name}, frame {frame} ({frame / 30:.2f} s), seed 3: "
                 f"jawOpen {min(jaw.values()):.2f}-{max(jaw.values()):.2f}", fontsize=10)
    fig.tight_layout()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=100)
    print(f"[render_styles] wrote {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
