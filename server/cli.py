"""The `mouthpiece` command: generate, style, info, serve, train, distill."""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import tomllib


def _progress_printer(enabled: bool):
    """A one-line progress bar on stderr."""
    state = {"last": -1}

    def show(fraction: float, stage: str):
        if not enabled:
            return
        pct = int(fraction * 100)
        if pct == state["last"]:
            return
        state["last"] = pct
        filled = pct // 4
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (25 - filled)}] {pct:3d}% {stage:<28}")
        if fraction >= 1.0:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show


def _parse_range(text: str) -> tuple[int, int]:
    try:
        a, b = text.split(":")
        return int(a), int(b)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--range {text!r}: expected START:END, e.g. 30:90") from None


def _parse_channels(text: str) -> tuple[str, ...]:
    """Channel names (any spelling) and group names (jaw_mouth, eyes, brows, cheeks_nose, tongue)."""
    from addon.core import arkit

    chosen: list[str] = []
    for word in filter(None, (w.strip() for w in text.split(","))):
        names = arkit.GROUPS.get(word) or ((arkit.canonical_name(word),) if arkit.canonical_name(word) else None)
        if names is None:
            raise SystemExit(f"mouthpiece generate: --channels: {word!r} is neither an ARKit channel nor a group "
                             f"({', '.join(arkit.GROUPS)})")
        chosen += [n for n in names if n not in chosen]
    return tuple(chosen)


def _read_keys(path):
    from server.engine import Key
    from server.errors import InputError

    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise InputError(f"--keyframes: {path} does not exist") from None
    except json.JSONDecodeError as e:
        raise InputError(f"--keyframes: {path} is not valid JSON ({e})") from None
    if not isinstance(data, list):
        raise InputError(f"--keyframes: {path} must hold a list of {{\"frame\", \"channel\", \"value\"}}")
    keys = []
    for i, k in enumerate(data):
        if not isinstance(k, dict) or not {"frame", "channel", "value"} <= set(k):
            raise InputError(f"--keyframes: item {i} of {path} needs 'frame', 'channel' and 'value'")
        keys.append(Key(frame=k["frame"], channel=k["channel"], value=k["value"]))
    return keys


def _style_request(args) -> dict | None:
    """The partial style of --match, --style and --emotion (later ones override earlier keys)."""
    from server.errors import InputError
    from server.style import StyleError, check_values, parse_emotion, parse_pairs, public_dict

    style: dict = {}
    try:
        if args.match:
            style.update(public_dict(_infer_reference(args.match, "--match")))
            if style["emotion"] == "neutral":
                style.pop("intensity")
        if args.style:
            given = parse_pairs(args.style)
            if given.get("emotion") == "neutral":
                style.pop("intensity", None)
            style.update(given)
        if args.emotion:
            given = parse_emotion(args.emotion)
            style.pop("intensity", None)
            style.update(given)
        if style.get("emotion") == "neutral":
            style.pop("intensity", None)
        return check_values(style) if style else None
    except StyleError as e:
        raise InputError(str(e)) from None


def _infer_reference(path, flag: str):
    from server.errors import InputError
    from server.style_infer import StyleInferenceError, infer_file

    try:
        return infer_file(path)
    except StyleInferenceError as e:
        raise InputError(f"{flag}: {e}") from None


def _transcript(args) -> str | None:
    from server.errors import InputError

    if args.transcript and args.transcript_file:
        raise InputError("--transcript and --transcript-file: give one of them")
    if args.transcript_file:
        try:
            with open(args.transcript_file, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            raise InputError(f"--transcript-file: {args.transcript_file} does not exist") from None
        except (OSError, UnicodeDecodeError) as e:
            raise InputError(f"--transcript-file: cannot read {args.transcript_file} as UTF-8 text ({e})") from None
        return text.strip() or None
    return args.transcript.strip() or None if args.transcript else None


def _describe_style(style: dict) -> str:
    from server.style import CONTROLS

    text = " ".join(f"{k}={style[k]:g}" for k in CONTROLS)
    if style["emotion"] != "neutral":
        text += f" emotion={style['emotion']}:{style['intensity']:g}"
    return text


def cmd_generate(args) -> int:
    import numpy as np

    from addon.core.curvefile import CurveTake, read_any, write_csv, write_json
    from server.audio import load_audio
    from server.engine import Engine, GenerationRequest

    style = _style_request(args)
    transcript = _transcript(args)
    audio = load_audio(args.audio)
    existing = regenerate = None
    if args.edit or args.range:
        if not (args.edit and args.range):
            raise SystemExit("mouthpiece generate: --edit and --range go together (--edit PREV.csv --range START:END)")
        take = read_any(args.edit, fps=args.fps)
        existing = np.asarray(take.frames, np.float32)
        regenerate = args.range
    channels = _parse_channels(args.channels) if args.channels else None
    if channels is not None and regenerate is None:
        raise SystemExit("mouthpiece generate: --channels needs --edit PREV.csv --range START:END (the other "
                         "channels keep PREV's curves)")
    keys = _read_keys(args.keyframes) if args.keyframes else []
    engine = Engine.from_checkpoint(args.checkpoint, device=args.device)
    show = _progress_printer(not args.quiet and audio.duration > 0)
    request = GenerationRequest(audio=audio, fps=args.fps, samples=args.samples, seed=args.seed, steps=args.steps,
                                guidance=args.guidance, lip_closure=args.lip_closure, keys=keys, existing=existing,
                                regenerate=regenerate, regenerate_channels=channels, offset=args.offset,
                                style=style, style_guidance=args.style_guidance, language=args.language,
                                transcript=transcript)
    result = engine.generate(request, progress=show, cancel=threading.Event())
    out = args.output
    stem, ext = os.path.splitext(out)
    paths = [out] if result.takes.shape[0] == 1 else [f"{stem}.{i}{ext or '.csv'}" for i in range(result.takes.shape[0])]
    styles = result.styles or [None] * len(paths)
    for path, take, seed, take_style in zip(paths, result.takes, result.seeds, styles):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        curves = CurveTake(fps=result.fps, frames=take.tolist())
        if path.lower().endswith(".json"):
            # The JSON form has room for the take's metadata: its seed and the style it was drawn with.
            curves.meta = {"seed": seed, **({"style": take_style} if take_style else {}),
                           "style_guidance": result.style_guidance, "closure_sources": result.closure_sources}
            write_json(path, curves)
        else:
            write_csv(path, curves)
        print(f"wrote {path} ({take.shape[0]} frames at {result.fps:g} fps, seed {seed})")
        if take_style:
            print(f"  style: {_describe_style(take_style)}")
    if not args.quiet:
        print(f"{audio.duration:.2f} s of audio in {result.seconds:.2f} s ({result.steps} steps, "
              f"guidance {result.guidance:g}, "
              + (f"style guidance {result.style_guidance:g}, " if result.styles else "")
              + f"lip closure {result.lip_closure:g})", file=sys.stderr)
        if result.closure_sources:
            print("lip closures from: " + ", ".join(result.closure_sources), file=sys.stderr)
        if result.recognised_words:
            print("lip closures placed from the recognised words: " + " ".join(result.recognised_words),
                  file=sys.stderr)
    return 0


def cmd_style(args) -> int:
    """The style a reference take was performed in, as one JSON object (the keys --style takes)."""
    from server.style import public_dict

    print(json.dumps(public_dict(_infer_reference(args.reference, "reference"))))
    return 0


def cmd_info(args) -> int:
    import torch

    from server import __version__
    from server.engine import Engine

    print(f"mouthpiece {__version__}; torch {torch.__version__}; "
          f"device: {'cuda (' + torch.cuda.get_device_name(0) + ')' if torch.cuda.is_available() else 'cpu'}")
    engine = Engine.from_checkpoint(args.checkpoint, device=args.device)
    info = engine.info()
    print(json.dumps(info, indent=2))
    return 0


def cmd_train(args) -> int:
    from server.training.config import load_config
    from server.training.train import train

    overrides = {}
    if args.minutes is not None:
        overrides.setdefault("train", {})["time_budget_minutes"] = args.minutes
    if args.corpus:
        overrides.setdefault("data", {})["corpus"] = args.corpus
    if args.init:
        overrides.setdefault("train", {})["init"] = args.init
    for setting in args.set or []:
        section, _, rest = setting.partition(".")
        key, eq, value = rest.partition("=")
        if not (section and key and eq):
            raise SystemExit(f"mouthpiece train: --set {setting!r}: write SECTION.KEY=VALUE, e.g. train.lr=3e-4")
        try:
            parsed = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            parsed = value                           # a bare string
        overrides.setdefault(section, {})[key] = parsed
    cfg = load_config(args.config, overrides)
    if args.export:
        from server.training.train import export_state

        print(f"checkpoint: {export_state(args.run, cfg, args.export)}")
        return 0
    out = train(cfg, args.run)
    print(f"checkpoint: {out}")
    return 0


def cmd_distill(args) -> int:
    from server.training.distill import DistillSettings, distill

    settings = DistillSettings(steps=args.steps, start_steps=args.start_steps, method=args.method,
                               guidance=args.guidance, minutes=args.minutes, batch=args.batch,
                               crop_seconds=args.crop_seconds, lr=args.lr, threads=args.threads, seed=args.seed,
                               corpus=args.corpus if len(args.corpus) > 1 else args.corpus[0], cache=args.cache,
                               limit=args.limit)
    if args.max_iters is not None:
        settings.max_iters = args.max_iters
    try:
        out = distill(args.teacher or _default_checkpoint(), args.run, args.out, settings)
    except ValueError as e:
        raise SystemExit(f"mouthpiece distill: {e}") from None
    print(f"checkpoint: {out}")
    return 0


def _default_checkpoint():
    from server.checkpoint import DEFAULT_CHECKPOINT

    return DEFAULT_CHECKPOINT


def build_parser() -> argparse.ArgumentParser:
    # The one table of limits: the engine checks a request against the same numbers.
    from server import limits

    p = argparse.ArgumentParser(prog="mouthpiece", description="Speech-driven ARKit facial animation.")
    sub = p.add_subparsers(dest="command", required=True)

    g = sub.add_parser("generate", help="audio -> ARKit curves CSV")
    g.add_argument("audio", help="WAV, FLAC or OGG file")
    g.add_argument("-o", "--output", required=True, help="output CSV, or .json (which also records each take's seed and style); with --samples N: OUT.0.csv ...")
    g.add_argument("--fps", type=float, default=30.0,
                   help=f"output frame rate, {limits.MIN_FPS:g}-{limits.MAX_FPS:g} (default 30)")
    g.add_argument("--samples", type=int, default=1, help=f"number of takes, 1-{limits.MAX_SAMPLES}")
    g.add_argument("--seed", type=int, default=0, help=f"seed of the first take, 0-{limits.MAX_SEED}")
    g.add_argument("--steps", type=int, default=None,
                   help=f"sampling steps, 1-{limits.MAX_STEPS} (default: the model's)")
    g.add_argument("--guidance", type=float, default=None,
                   help=f"audio guidance scale, 0-{limits.MAX_GUIDANCE:g} (default: the model's)")
    g.add_argument("--lip-closure", type=float, default=None,
                   help="lip-closure guidance at recognised p/b/m, 0-1 (0: off; default: the model's, 1)")
    g.add_argument("--keyframes", help='JSON list of {"frame", "channel", "value"} to meet exactly')
    g.add_argument("--edit", help="previous take (CSV) to edit")
    g.add_argument("--range", type=_parse_range, help="START:END frames of --edit to regenerate (inclusive)")
    g.add_argument("--channels", help="with --edit/--range: regenerate only these channels or groups "
                                      "(e.g. jaw_mouth,tongue or jawOpen,mouthClose); the rest keep --edit's curves")
    g.add_argument("--offset", type=float, default=0.0, metavar="FRAMES",
                   help="lead the mouth by FRAMES (negative: lag); animators often lead by 1-2; "
                        f"at most {limits.MAX_OFFSET_SECONDS:g} s of frames")
    perf = g.add_argument_group("performance style (a style-conditioned model; unset keys are drawn per take)")
    perf.add_argument("--style", metavar="KEY=VALUE[,KEY=VALUE...]",
                      help="articulation (0-2, 1 neutral), smile (-1 frown .. 1), asymmetry (-1..1), "
                           "brow_activity (0-3), blink_rate (0-4), gaze_activity (0-3); emotion and intensity too")
    perf.add_argument("--emotion", metavar="NAME[:INTENSITY]",
                      help="neutral, happy, sad, angry, surprised, fearful or disgusted; intensity 0-1 (default 1)")
    perf.add_argument("--style-guidance", type=float, default=None, metavar="G",
                      help=f"guidance on the style, 0-{limits.MAX_STYLE_GUIDANCE:g} (1: none; above 1 strengthens it; "
                           "default: the model's)")
    perf.add_argument("--match", metavar="REF",
                      help="take the style of REF (Live Link Face CSV, Mouthpiece CSV at 30 fps or curve JSON); "
                           "--style and --emotion override its keys")
    speech = g.add_argument_group("speech")
    speech.add_argument("--language", default="auto", metavar="CODE",
                        help="the speech's language: auto (default), en, es, fr, ... (the English recogniser "
                             "places closures only for English)")
    speech.add_argument("--transcript", metavar="TEXT", help="what is said: its words place the lip closures")
    speech.add_argument("--transcript-file", metavar="F", help="the transcript from a UTF-8 text file")
    g.add_argument("--checkpoint", help="model checkpoint directory (default: the shipped model)")
    g.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    g.add_argument("-q", "--quiet", action="store_true")
    g.set_defaults(func=cmd_generate)

    st = sub.add_parser("style", help="infer the performance style of a take (prints one JSON object)")
    st.add_argument("reference", help="Live Link Face CSV (.csv or .csv.gz), Mouthpiece CSV (30 fps) or curve JSON")
    st.set_defaults(func=cmd_style)

    i = sub.add_parser("info", help="the model, its training data and the device")
    i.add_argument("--checkpoint")
    i.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    i.set_defaults(func=cmd_info)

    t = sub.add_parser("train", help="train a model (see scripts/train)")
    t.add_argument("--config", help="TOML config over the defaults")
    t.add_argument("--run", default="runs/default", help="run directory (resumed if it exists)")
    t.add_argument("--corpus", help="corpus directory (overrides the config)")
    t.add_argument("--minutes", type=float, help="time budget (overrides the config)")
    t.add_argument("--init", metavar="CHECKPOINT", help="fine-tune from this checkpoint (overrides the config)")
    t.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE",
                   help="override one config value (TOML syntax), e.g. --set train.lr=3e-4; repeatable")
    t.add_argument("--export", metavar="DIR", help="only export the run's last saved EMA weights to DIR")
    t.set_defaults(func=cmd_train)

    d = sub.add_parser("distill", help="distil a checkpoint into a few-step student (see docs/TRAINING.md)")
    d.add_argument("--teacher", help="the checkpoint to distil (default: the shipped model)")
    d.add_argument("--run", default="runs/distill", help="run directory (resumed if it exists)")
    d.add_argument("--out", help="also write the final student here (a checkpoint directory)")
    d.add_argument("--steps", type=int, default=2, help="the student's sampling steps (default 2)")
    d.add_argument("--start-steps", type=int, default=16,
                   help="progressive: the first round's teacher steps, steps x a power of two (default 16)")
    d.add_argument("--method", default="progressive", choices=("progressive", "guidance"),
                   help="progressive (guidance distillation, then rounds halving the steps) or guidance "
                        "(guidance distillation only, sampled with plain DDIM; the baseline)")
    d.add_argument("--guidance", type=float, help="audio guidance to bake in (default: the teacher's)")
    d.add_argument("--minutes", type=float, default=5.0, help="time budget of each round (default 5)")
    d.add_argument("--max-iters", type=int, help="iterations of each round at most")
    d.add_argument("--batch", type=int, default=16)
    d.add_argument("--crop-seconds", type=float, default=4.0)
    d.add_argument("--lr", type=float, default=1e-4)
    d.add_argument("--threads", type=int, default=2)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--corpus", nargs="+", default=["data/corpus"],
                   help="the training corpus, or several (as the teacher's config lists them; default data/corpus)")
    d.add_argument("--cache", default="data/cache", help="the prepared-item cache (default data/cache)")
    d.add_argument("--limit", type=int, default=0, help="corpus items to use (default 0: all)")
    d.set_defaults(func=cmd_distill)

    try:
        from server.api import add_serve_arguments, serve_main
    except ImportError:
        pass
    else:
        s = sub.add_parser("serve", help="run the local HTTP sidecar for the Blender add-on")
        add_serve_arguments(s)
        s.set_defaults(func=serve_main)
    return p


def main(argv=None) -> int:
    from server.errors import MouthpieceError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except MouthpieceError as e:
        print(f"mouthpiece: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nmouthpiece: cancelled", file=sys.stderr)
        return 130
