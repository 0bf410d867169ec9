"""Curve files: Mouthpiece CSV, the JSON form, and Live Link Face CSV.

Pure standard library (the add-on and the sidecar both read and write these).
A take in memory is ``CurveTake``: frames as a list of rows of 52 floats in
``arkit.CHANNELS`` order, row i at time i / fps.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field

from . import arkit

LIVE_LINK_FPS = 60.0
JSON_FORMAT = "mouthpiece.curves"
JSON_VERSION = 1


class CurveFileError(ValueError):
    """A curve file that cannot be read; the message says what is wrong with it."""


@dataclass
class CurveTake:
    fps: float
    frames: list[list[float]]
    meta: dict = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return len(self.frames)

    def column(self, channel: str) -> list[float]:
        i = arkit.INDEX[channel]
        return [row[i] for row in self.frames]


def _clean_value(text: str, where: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise CurveFileError(f"{where}: {text!r} is not a number") from None
    if not math.isfinite(v):
        raise CurveFileError(f"{where}: {text!r} is not a finite number")
    return v


def _rows_from_named_columns(header: list[str], rows, skip: set[str], source: str) -> list[list[float]]:
    """Rows of a table whose columns are channel names in any spelling -> 52-wide rows.

    Columns that are not ARKit channels (head and eye rotations, counters) are ignored;
    channels missing from the file are 0.
    """
    column_of: dict[int, int] = {}
    for col, name in enumerate(header):
        if name in skip:
            continue
        channel = arkit.canonical_name(name)
        if channel is not None and arkit.INDEX[channel] not in column_of.values():
            column_of[col] = arkit.INDEX[channel]
    if not column_of:
        raise CurveFileError(f"{source}: no ARKit channel names in the header {header[:5]}...")
    frames = []
    for line_no, row in enumerate(rows, start=2):
        if not row or all(not c.strip() for c in row):
            continue
        if len(row) < len(header):
            raise CurveFileError(f"{source} line {line_no}: {len(row)} columns, the header has {len(header)}")
        values = [0.0] * arkit.NUM_CHANNELS
        for col, ch in column_of.items():
            values[ch] = _clean_value(row[col], f"{source} line {line_no}, column {header[col]}")
        frames.append(values)
    return frames


# --- Mouthpiece CSV: header "frame" + the 52 names --------------------------------------------

def write_csv(path_or_file, take: CurveTake) -> None:
    """CSV with header ``frame`` and the 52 names, one row per frame, frame 0 at time 0.

    The fps goes in a leading comment-free way: it is not part of the CSV contract, so
    readers are told it by the caller (default 30) or by the JSON form.
    """
    def _write(f):
        w = csv.writer(f, lineterminator="\n")
        w.writerow(("frame",) + arkit.CHANNELS)
        for i, row in enumerate(take.frames):
            w.writerow([i] + [f"{min(1.0, max(0.0, v)):.6f}" for v in row])
    if hasattr(path_or_file, "write"):
        _write(path_or_file)
    else:
        with open(path_or_file, "w", newline="", encoding="utf-8") as f:
            _write(f)


def read_csv(path_or_file, fps: float = 30.0) -> CurveTake:
    """Read a Mouthpiece CSV (or any CSV with a ``frame`` column and channel-named columns)."""
    source = getattr(path_or_file, "name", str(path_or_file))
    text = path_or_file.read() if hasattr(path_or_file, "read") else _read_text(path_or_file)
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        raise CurveFileError(f"{source}: empty file, expected a header 'frame,{arkit.CHANNELS[0]},...'")
    header = [h.strip() for h in header]
    if header[0].lower() != "frame":
        if header[0].lower() == "timecode":
            return read_livelink_csv(io.StringIO(text), source=source)
        raise CurveFileError(f"{source}: the first column must be 'frame', found {header[0]!r}")
    frames = _rows_from_named_columns(header, reader, {header[0]}, source)
    return CurveTake(fps=float(fps), frames=frames)


def _read_text(path) -> str:
    try:
        with open(path, encoding="utf-8-sig") as f:
            return f.read()
    except FileNotFoundError:
        raise CurveFileError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise CurveFileError(f"{path}: not a text file") from None


# --- JSON form --------------------------------------------------------------------------------

def to_json_dict(take: CurveTake) -> dict:
    return {"format": JSON_FORMAT, "version": JSON_VERSION, "fps": take.fps,
            "names": list(arkit.CHANNELS), "frames": take.frames, **({"meta": take.meta} if take.meta else {})}


def from_json_dict(data: dict, source: str = "JSON") -> CurveTake:
    if not isinstance(data, dict) or "frames" not in data or "names" not in data:
        raise CurveFileError(f"{source}: expected an object with 'fps', 'names' and 'frames'")
    fps = data.get("fps", 30.0)
    if not isinstance(fps, (int, float)) or not math.isfinite(fps) or fps <= 0:
        raise CurveFileError(f"{source}: 'fps' must be a positive number, found {fps!r}")
    names = [str(n) for n in data["names"]]
    rows = [[str(v) for v in row] for row in data["frames"]]
    frames = _rows_from_named_columns(names, rows, set(), source)
    return CurveTake(fps=float(fps), frames=frames, meta=dict(data.get("meta") or {}))


def write_json(path, take: CurveTake) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(to_json_dict(take), f)


def read_json(path) -> CurveTake:
    try:
        data = json.loads(_read_text(path))
    except json.JSONDecodeError as e:
        raise CurveFileError(f"{path}: not valid JSON ({e})") from None
    return from_json_dict(data, str(path))


# --- Live Link Face CSV -----------------------------------------------------------------------

def _timecode(frame: int, fps: float) -> str:
    """Live Link Face's Timecode column: HH:MM:SS:FF.mmm (frame within the second, then ms)."""
    whole = int(frame // fps + 1e-9)
    sub = round(frame - whole * fps, 6)  # frames into this second (fractional at 29.97)
    h, rem = divmod(whole, 3600)
    m, s = divmod(rem, 60)
    return f"{h:02d}:{m:02d}:{s:02d}:{int(sub):02d}.{int(round((sub % 1) * 1000)) % 1000:03d}"


def write_livelink_csv(path, take: CurveTake) -> None:
    """Write a take as Live Link Face CSV (Timecode, BlendshapeCount, PascalCase names).

    Head and eye rotation columns are written as zeros, as Live Link Face expects them.
    """
    rotations = ("HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
                 "RightEyeYaw", "RightEyePitch", "RightEyeRoll")
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(("Timecode", "BlendshapeCount") + tuple(arkit.pascal_case(n) for n in arkit.CHANNELS) + rotations)
        count = arkit.NUM_CHANNELS + len(rotations)
        for i, row in enumerate(take.frames):
            w.writerow([_timecode(i, take.fps), count] + [f"{min(1.0, max(0.0, v)):.10f}" for v in row]
                       + ["0.0000000000"] * len(rotations))


def read_livelink_csv(path_or_file, source: str | None = None) -> CurveTake:
    """Read a Live Link Face take. Frames are taken in file order at 60 fps (its capture rate)."""
    if hasattr(path_or_file, "read"):
        text = path_or_file.read()
    elif str(path_or_file).endswith(".gz"):
        import gzip
        with gzip.open(path_or_file, "rt", encoding="utf-8") as f:
            text = f.read()
    else:
        text = _read_text(path_or_file)
    source = source or str(path_or_file)
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header or header[0].strip() != "Timecode":
        raise CurveFileError(f"{source}: not a Live Link Face CSV (its first column must be 'Timecode')")
    header = [h.strip() for h in header]
    frames = _rows_from_named_columns(header, reader, {"Timecode", "BlendshapeCount"}, source)
    return CurveTake(fps=LIVE_LINK_FPS, frames=frames, meta={"source": "livelinkface"})


def read_any(path, fps: float = 30.0) -> CurveTake:
    """Read a curve file by its form: .json, Live Link Face CSV (Timecode header) or Mouthpiece CSV."""
    p = str(path)
    if p.endswith(".json"):
        return read_json(p)
    if p.endswith(".gz"):
        return read_livelink_csv(p)
    return read_csv(p, fps=fps)
