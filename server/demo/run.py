"""The demo's driver: `python -m server.demo` (scripts/demo sets up the environments first).

1. Align the sample sentence with pocketsphinx and choose the demo's frames (story.py).
2. Start a real sidecar (`python -m server serve --port 0`, the shipped model or --checkpoint).
3. Run scripts/demo_blender.py in headless Blender (a .venv-bpy* Python), pointed at that
   sidecar: demo head, sound strip, Generate, two pins and In-between, Regenerate Range, three
   Variations and Apply; it writes demo.blend, demo.csv and rendered frames.
4. Draw demo.png and demo_strip.png (figures.py) and print where everything is and how long
   each stage took.

The sidecar is stopped on every way out: success, an error, Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path

from addon.core.client import LocalSidecar, SidecarError, serve_command

from . import story as demo_story

ROOT = demo_story.ROOT
BLENDER_SCRIPT = ROOT / "scripts" / "demo_blender.py"
SIDECAR_STARTUP_GUARD_S = 600.0  # loading a model on a busy CPU; a hung start fails instead of waiting forever


class DemoFailed(RuntimeError):
    """A stage failed; the message says which and where its log is."""


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/demo", description="Run Mouthpiece's whole pipeline on the sample sentence in headless Blender.")
    parser.add_argument("--checkpoint", default="",
                        help="model checkpoint folder for the sidecar (default: the shipped model, server/models/default)")
    parser.add_argument("--out", default=str(ROOT / "out"), help="output folder (default: out/)")
    parser.add_argument("--blender", choices=("45", "50", "5x"), default="45",
                        help="the headless Blender to run: the .venv-bpy45 (bpy 4.5 LTS, default), .venv-bpy50 "
                             "(bpy 5.0.1) or .venv-bpy5x environment of scripts/setup_blender_envs")
    parser.add_argument("--steps", type=int, default=0, help="sampler steps; 0: the model's default")
    parser.add_argument("--threads", type=int, default=0, help="the sidecar's torch CPU threads; 0: torch's choice")
    parser.add_argument("--render-size", type=int, default=240, help="pixel size of each rendered frame (square)")
    parser.add_argument("--stage-time", action="append", default=[], metavar="NAME=SECONDS",
                        help="a stage timed before this program ran, for the summary (scripts/demo passes its set-up)")
    args = parser.parse_args(argv)
    if args.checkpoint and not Path(args.checkpoint).is_dir():
        parser.error(f"--checkpoint {args.checkpoint}: no such folder (give a model checkpoint folder)")
    args.blender_python = ROOT / f".venv-bpy{args.blender}" / "bin" / "python"
    if not args.blender_python.is_file():
        parser.error(f"{args.blender_python} is missing: create it with "
                     f"`scripts/setup_blender_envs --only {args.blender}` (scripts/demo does this itself)")
    if not 0 <= args.steps <= 200:
        parser.error("--steps must be between 1 and 200 (or 0 for the model's default)")
    if args.render_size < 32:
        parser.error("--render-size must be at least 32 pixels")
    return args


class Timer:
    def __init__(self, earlier: list[str]):
        self.stages: list[tuple[str, float]] = []
        for item in earlier:
            name, _, seconds = item.rpartition("=")
            try:
                self.stages.append((name, float(seconds)))
            except ValueError:
                raise SystemExit(f"--stage-time {item!r}: expected NAME=SECONDS") from None

    def run(self, name, fn, *args):
        say(f"{name}...")
        start = time.perf_counter()
        value = fn(*args)
        self.stages.append((name, time.perf_counter() - start))
        return value


def say(text: str) -> None:
    print(f"\033[1m[demo]\033[0m {text}", file=sys.stderr, flush=True)


def make_story(args) -> dict:
    from server.audio import load_audio
    from server.speech.alignment import align

    audio = load_audio(str(demo_story.SAMPLE_WAV))
    alignment = align(audio.samples, demo_story.SAMPLE_TEXT)
    story = demo_story.plan(alignment, audio.duration)
    story["steps"] = args.steps or None
    return story


def start_sidecar(args, work: Path) -> LocalSidecar:
    command = serve_command(sys.executable, args.checkpoint)
    command += ["--state-file", str(work / "sidecar.json")]  # never the user's own sidecar's state file
    if args.threads:
        command += ["--threads", str(args.threads)]
    log_path = Path(args.out) / "demo_sidecar.log"
    # LocalSidecar creates the log afresh (0600, never through a link) and hides the token in it.
    log_path.unlink(missing_ok=True)
    sidecar = LocalSidecar(command, cwd=str(ROOT), log_path=log_path)
    sidecar.start()
    try:
        sidecar.wait_ready(SIDECAR_STARTUP_GUARD_S)
    except SidecarError as exc:
        raise DemoFailed(str(exc)) from None
    return sidecar


def run_blender(args, story: dict, sidecar: LocalSidecar, work: Path) -> dict:
    out = Path(args.out)
    plan = {
        "story": story,
        "audio": str(demo_story.SAMPLE_WAV),
        "render_size": args.render_size,
        "outputs": {"blend": str(out / "demo.blend"), "csv": str(out / "demo.csv"),
                    "frames_dir": str(out / "demo_frames"), "result": str(out / "demo_run.json")},
    }
    (out / "demo_run.json").unlink(missing_ok=True)
    plan_path = work / "plan.json"
    plan_path.write_text(json.dumps(plan))
    info = sidecar.ready_info
    env = {**_clean_env(), "MOUTHPIECE_URL": info["url"], "MOUTHPIECE_TOKEN": info["token"]}
    log_path = out / "demo_blender.log"
    tail: deque[str] = deque(maxlen=25)
    with open(log_path, "w", encoding="utf-8") as log:
        process = subprocess.Popen([str(args.blender_python), str(BLENDER_SCRIPT), str(plan_path)], cwd=ROOT, env=env,
                                   stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            for raw in process.stdout:
                line = raw.decode("utf-8", "replace").rstrip("\n")
                log.write(line + "\n")
                tail.append(line)
                if line.startswith("[demo_blender]"):
                    say("  Blender: " + line.split("]", 1)[1].strip())
            code = process.wait()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    result_path = out / "demo_run.json"
    result = json.loads(result_path.read_text()) if result_path.is_file() else {}
    if code != 0 or not result.get("ok"):
        reason = result.get("error") or f"Blender exited with code {code}"
        raise DemoFailed(f"the Blender part failed: {reason}\n  last lines of {log_path}:\n    "
                         + "\n    ".join(tail))
    return result


def _clean_env() -> dict:
    """This environment without the project venv's Python settings (Blender has its own Python)."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}


def _raise_on_sigterm(signum, frame):
    raise SystemExit(128 + signum)  # unwinds through the finally that stops the sidecar


def summary(out: Path, timer: Timer, result: dict, story: dict, sidecar_info: dict, wall: float) -> str:
    outside = result["regenerate_outside_change"]
    lines = ["", "Mouthpiece demo: done", ""]
    files = [("demo.blend", "the scene: demo head, sound strip, the animation (chosen take applied)"),
             ("demo.csv", "the final 52 ARKit curves, Mouthpiece CSV at 30 fps (row 0 = audio start)"),
             ("demo.png", "jaw and lip curves over the waveform, phones, pins and edited ranges"),
             ("demo_strip.png", "rendered frames of the head talking (each one in demo_frames/)"),
             ("demo_run.json", "what the Blender part did (timings, curves after each step)"),
             ("demo_sidecar.log", "the sidecar's log"), ("demo_blender.log", "Blender's log")]
    for name, what in files:
        lines.append(f"  {out / name}\n      {what}")
    lines.append(f"  Open the scene with `blender {out / 'demo.blend'}` (play it to hear the sentence).")
    lines += ["", f"  model {sidecar_info.get('model')} on {sidecar_info.get('device')}, "
              f"Blender {result.get('blender')}, {story['frame_end'] - story['frame_start'] + 1} frames "
              f"at {story['fps']:g} fps",
              f"  pins met within {result['pins']['max_miss']:.1e}; largest change outside the regenerated "
              f"range {outside['max']:.1e} ({outside['channel']}, frame {outside['frame']}); "
              f"kept {result['kept']['name']} (seed {result['kept']['seed']}) of {len(result['takes'])} takes"]
    if result["pins"]["pin_pose_left_generated"]:
        lines.append(f"  note: Pin Pose left {result['pins']['pin_pose_left_generated']} keys typed GENERATED "
                     "(over keys Mouthpiece wrote); the demo made them pins")
    lines += ["", "  time per stage:"]
    for name, seconds in timer.stages:
        lines.append(f"    {name:<46s} {seconds:7.1f} s")
        if name == "headless Blender":
            for inner, inner_s in result["stages"]:
                lines.append(f"      {inner:<44s} {inner_s:7.1f} s")
    lines.append(f"    {'total after set-up':<46s} {wall:7.1f} s")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    timer = Timer(args.stage_time)
    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    signal.signal(signal.SIGHUP, _raise_on_sigterm)
    started = time.perf_counter()
    sidecar = None
    try:
        with tempfile.TemporaryDirectory(prefix="mouthpiece-demo-") as work_dir:
            work = Path(work_dir)
            story = timer.run("align the sentence (pocketsphinx)", make_story, args)
            sidecar = timer.run("start the sidecar", start_sidecar, args, work)
            info = dict(sidecar.ready_info)
            say(f"sidecar ready at {info['url']} (model {info.get('model')}, {info.get('device')})")
            result = timer.run("headless Blender", run_blender, args, story, sidecar, work)
            timer.run("stop the sidecar", sidecar.stop)
            sidecar = None
        from . import figures

        timer.run("plot demo.png", figures.curves_figure, out / "demo.csv", story, result, out / "demo.png")
        timer.run("tile demo_strip.png", figures.frame_strip, result["rendered"], story, out / "demo.csv",
                  out / "demo_strip.png")
    except DemoFailed as exc:
        say(f"FAILED: {exc}")
        return 1
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    finally:
        if sidecar is not None:
            say("stopping the sidecar")
            sidecar.stop()
    print(summary(out, timer, result, story, info, time.perf_counter() - started))
    return 0
