"""The demo's pictures: the curves over the waveform (demo.png) and the rendered frames (demo_strip.png)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from addon.core import curvefile  # noqa: E402
from addon.core.arkit import INDEX  # noqa: E402
from server.audio import load_audio  # noqa: E402
from server.face.lip_opening import lip_opening  # noqa: E402
from server.phones import BILABIALS  # noqa: E402

from .story import SAMPLE_WAV  # noqa: E402

COLOURS = {"jawOpen": "#1f5fbf", "mouthClose": "#c0392b", "lips": "#111111",
           "inbetween": "#9ecae1", "regenerate": "#fdae6b", "variations": "#a1d99b"}


def _curves(csv_path: Path, fps: float) -> np.ndarray:
    return np.asarray(curvefile.read_csv(csv_path, fps=fps).frames, np.float64)


def _seconds(story: dict, frame: float) -> float:
    return (frame - story["frame_start"]) / story["fps"]


def _shade(axes, story, start, end, colour):
    for ax in axes:
        ax.axvspan(_seconds(story, start - 0.5), _seconds(story, end + 0.5), color=colour, alpha=0.35, lw=0, zorder=0)


def _envelope(samples: np.ndarray, rate: int, window_s: float = 0.005) -> tuple[np.ndarray, np.ndarray]:
    """Peak amplitude per 5 ms window, scaled to 1: the waveform as it reads at this width."""
    hop = max(1, int(rate * window_s))
    count = len(samples) // hop
    peaks = np.abs(samples[:count * hop]).reshape(count, hop).max(axis=1)
    return (np.arange(count) + 0.5) * hop / rate, peaks / (peaks.max() or 1.0)


def _phone_strip(ax, story):
    ax.set_ylim(0, 1)
    ax.set_yticks([])
    for name, start, end in story["words"]:
        ax.text((start + end) / 2, 0.72, name, ha="center", va="center", fontsize=9, fontweight="bold")
        ax.axvline(start, color="#555555", lw=0.8)
    spoken = [p for p in story["phones"] if p[0] != "SIL"]
    for number, (phone, start, end) in enumerate(spoken):
        # Two staggered rows: short neighbouring phones (DH AH) would overlap on one.
        ax.text((start + end) / 2, 0.32 if number % 2 else 0.12, phone, ha="center", va="center", fontsize=6.5,
                color=COLOURS["mouthClose"] if phone in BILABIALS else "#333333")
        ax.axvline(start, ymax=0.45, color="#aaaaaa", lw=0.5)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)


def curves_figure(csv_path: Path, story: dict, result: dict, out_path: Path) -> Path:
    """jawOpen, mouthClose and lip opening over the waveform, with phones, pins and edited ranges."""
    fps = story["fps"]
    final = _curves(csv_path, fps)
    t = np.arange(len(final)) / fps
    audio = load_audio(str(SAMPLE_WAV))

    fig, (ax_ph, ax) = plt.subplots(2, 1, figsize=(15, 7.2), sharex=True,
                                    gridspec_kw={"height_ratios": [1, 5], "hspace": 0.04})
    wave = ax.twinx()
    wave_t, envelope = _envelope(audio.samples, audio.sample_rate)
    wave.fill_between(wave_t, envelope, -envelope, color="#9a9a9a", alpha=0.35, lw=0, zorder=0)
    wave.set_ylim(-1.1, 1.1)
    wave.set_yticks([])
    ax.set_zorder(wave.get_zorder() + 1)
    ax.patch.set_visible(False)

    pins = story["pins"]
    inbetween = (min(p["frame"] for p in pins), max(p["frame"] for p in pins))
    regen, var = story["regenerate"], story["variations"]
    _shade((ax, ax_ph), story, *inbetween, COLOURS["inbetween"])
    _shade((ax, ax_ph), story, regen["start"], regen["end"], COLOURS["regenerate"])
    _shade((ax, ax_ph), story, var["start"], var["end"], COLOURS["variations"])
    _phone_strip(ax_ph, story)

    lips = lip_opening(final)
    first = lip_opening(np.asarray(result["after_generate"], np.float64))
    ax.plot(t, first, color="#777777", lw=1.0, ls=":", label="lip opening after Generate (before the edits)")
    for number, frames in enumerate(result["take_frames"]):
        if number == var["keep"]:
            continue
        take_t = _seconds(story, var["start"]) + np.arange(len(frames)) / fps
        ax.plot(take_t, lip_opening(np.asarray(frames, np.float64)), color="#2e7d32", lw=0.9, alpha=0.6,
                label="lip opening of the takes not kept" if number == (1 if var["keep"] == 0 else 0) else None)
    ax.plot(t, final[:, INDEX["jawOpen"]], color=COLOURS["jawOpen"], lw=1.6, label="jawOpen")
    ax.plot(t, final[:, INDEX["mouthClose"]], color=COLOURS["mouthClose"], lw=1.6, label="mouthClose")
    ax.plot(t, lips, color=COLOURS["lips"], lw=2.2, label="lip opening (server.face.lip_opening)")
    for phone, start, end in story["phones"]:
        if phone in BILABIALS:
            ax.plot([start, end], [-0.03, -0.03], color=COLOURS["mouthClose"], lw=4, solid_capstyle="butt")
    ax.plot([], [], color=COLOURS["mouthClose"], lw=4, label="M B P: the lips should meet")

    for number, pin in enumerate(pins, start=1):
        x = _seconds(story, pin["frame"])
        ax.axvline(x, color="#6a1b9a", ls="--", lw=1.2)
        row = final[pin["frame"] - story["frame_start"]]
        ax.plot([x] * 3, [row[INDEX["jawOpen"]], row[INDEX["mouthClose"]], lips[pin["frame"] - story["frame_start"]]],
                "D", color="#6a1b9a", ms=6, zorder=5, label="pins (Pin Pose)" if number == 1 else None)
        ax.annotate(f"pin {number}: {pin['label']}", (x, 0.97), xytext=(4, 0), textcoords="offset points",
                    fontsize=8, color="#6a1b9a", va="top")

    top = 0.9
    for (start, end), text in ((inbetween, "in-between"),
                               ((regen["start"], regen["end"]), f"regenerated (seed {regen['seed']})"),
                               ((var["start"], var["end"]),
                                f"{var['count']} variations: kept {result['kept']['name']} "
                                f"(seed {result['kept']['seed']})")):
        ax.text(_seconds(story, start), top, " " + text, fontsize=8.5, va="top", style="italic",
                color="#333333" if text != "in-between" else "#0b4f8a")
    ax.set_ylim(-0.06, 1.0)
    ax.set_xlim(0, t[-1] + 1 / fps)
    ax.set_xlabel(f"seconds (audio time; scene frame = {story['frame_start']} + {fps:g} × seconds)")
    ax.set_ylabel("coefficient / lip opening (jawOpen = 1 units)")
    ax.legend(loc="upper center", fontsize=8, ncol=4, frameon=False, bbox_to_anchor=(0.5, -0.1))
    frames_axis = ax_ph.secondary_xaxis("top", functions=(lambda s: s * fps + story["frame_start"],
                                                          lambda f: (f - story["frame_start"]) / fps))
    frames_axis.set_xlabel("scene frame", fontsize=8)
    frames_axis.tick_params(labelsize=7)
    ax_ph.set_title("Mouthpiece demo: \"" + " ".join(w for w, _, _ in story["words"]) + "\"", fontsize=11, pad=26)
    fig.savefig(out_path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return out_path


def frame_strip(image_paths: list[str], story: dict, csv_path: Path, out_path: Path) -> Path:
    """The rendered frames side by side, each titled with its frame, word, phone and lip opening."""
    final = _curves(csv_path, story["fps"])
    lips = lip_opening(final)
    shots = story["render"]
    if len(image_paths) != len(shots):
        raise ValueError(f"{len(image_paths)} rendered frames for {len(shots)} planned shots")
    fig, axes = plt.subplots(1, len(shots), figsize=(2.0 * len(shots), 2.9))
    for ax, path, shot in zip(np.atleast_1d(axes), image_paths, shots):
        image = plt.imread(path)
        size = image.shape[0]
        ax.imshow(image[:, int(size * 0.1):int(size * 0.9)])  # the head is taller than wide
        ax.set_xticks([])
        ax.set_yticks([])
        opening = lips[shot["frame"] - story["frame_start"]]
        ax.set_title(f"frame {shot['frame']}: \"{shot['word']}\" /{shot['phone']}/\nlip opening {opening:.2f}",
                     fontsize=8.5, color=COLOURS["mouthClose"] if shot["phone"] in BILABIALS else "black")
    fig.tight_layout(pad=0.4, w_pad=0.3)
    fig.savefig(out_path, dpi=120, bbox_inches="tight", pad_inches=0.05)
    plt.close(fig)
    return out_path
