"""The engine: audio (+ pins, + an existing take to edit) -> N takes of ARKit curves.

Pipeline: decode audio -> encoder features -> DDIM sampling of the x0-predicting denoiser at
the model's frame rate, conditioned on a performance style per take (server/style.py), with
classifier-free guidance on the audio and the style, lip-closure guidance at the p/b/m that the
model's closure detector and (for English) speech recognition find (server/diffusion/closure.py)
and the known values
imposed on each x0 prediction (inpainting) -> resample to the requested fps -> harmonize
(known values met exactly, edges joined without a seam).

Long inputs are evaluated in windows with halos of the denoiser's receptive radius, which
gives exactly the whole-sequence result with memory linear in length.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import math
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import torch

from addon.core import arkit
from server.audio import Audio
from server.checkpoint import load_checkpoint
from server.diffusion.closure import close_lips, closure_envelope, detector_envelope
from server.diffusion.ddim import DDIMSampler
from server.diffusion.guidance import guided_x0
from server.diffusion.harmonize import harmonize
from server.errors import GenerationCancelled, InputError
from server.speech.recognise import Recognition, recognise
from server.style import StyleError, check_values, public_dict, resolve, style_vector
from server.timebase import MAX_OFFSET_SECONDS, num_frames, resample_curves

MAX_SAMPLES = 32
MAX_STEPS = 500
MAX_GUIDANCE = 10.0
RECOGNITION_CACHE = 64  # audio clips whose recognised phones are kept (takes and edits reuse them; small)
MAX_FPS = 240.0
WINDOW_FRAMES = 1024  # model frames per denoiser call for long inputs (34 s at 30 fps)
SEAM_SECONDS = 0.25
STYLE_SEED_STREAM = 0x5717  # a take's style is drawn from (seed, this): apart from its noise  # how far the residual at pins and kept edges fades into generated frames


@dataclass
class Key:
    frame: int
    channel: str
    value: float


@dataclass
class GenerationRequest:
    audio: Audio
    fps: float = 30.0
    samples: int = 1
    seed: int = 0
    steps: int | None = None
    guidance: float | None = None
    # Lip-closure guidance strength, 0-1 (0: off, and no speech recognition runs; None: the model's default).
    lip_closure: float | None = None
    keys: list[Key] = field(default_factory=list)
    existing: np.ndarray | None = None  # (T, 52) at fps: the take being edited
    regenerate: tuple[int, int] | None = None  # inclusive frames of `existing` to regenerate
    # The channels regenerated inside `regenerate` (canonical names; None: all 52). The others keep
    # `existing` on every frame and the model takes them as given (per-channel inpainting).
    regenerate_channels: tuple[str, ...] | None = None
    # Frames (at fps) by which the mouth leads the audio (negative: lags). Pins and kept frames stay
    # where they are; the audio the model hears is shifted instead.
    offset: float = 0.0
    # The performance style (server/style.py): the keys given are held, every other is drawn per take.
    style: dict | None = None
    # Classifier-free guidance on the style (1: none; above 1 strengthens it). None: the model's default.
    style_guidance: float | None = None
    # The speech's language: "auto", or a code such as "en", "es" (server/speech/language.py).
    language: str = "auto"
    # What is said, when known: its words are aligned to the audio (server/speech/transcript.py) and
    # place the closures instead of the recogniser.
    transcript: str | None = None


@dataclass
class GenerationResult:
    takes: np.ndarray  # (N, T, 52) float32 in [0, 1]
    seeds: list[int]
    fps: float
    steps: int
    guidance: float
    seconds: float
    lip_closure: float = 0.0
    recognised_words: list[str] = field(default_factory=list)
    styles: list[dict] | None = None  # the style each take was drawn with (None: the model has no style input)
    style_guidance: float = 1.0
    closure_sources: list[str] = field(default_factory=list)  # what placed the lip closures


def to_model_space(v):
    return v * 2.0 - 1.0


def from_model_space(x):
    return (x + 1.0) / 2.0


def pick_device(device: str = "auto") -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise InputError("device: CUDA was asked for but this torch has no CUDA device; use --device cpu")
    return device


@contextlib.contextmanager
def _threads_for(frames: int):
    """Use one thread for small jobs: on a busy machine, OpenMP's threads wait on each other and a
    short job with two threads can run many times slower than with one (measured here: 27x)."""
    before = torch.get_num_threads()
    wanted = int(os.environ.get("MOUTHPIECE_THREADS", 0)) or (1 if frames < 4096 else before)
    torch.set_num_threads(max(1, wanted))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _bridge(curves: np.ndarray, start: int, end: int, columns: np.ndarray) -> np.ndarray:
    """``curves`` with rows start..end of ``columns`` replaced by the straight line between the
    kept rows either side. Resampling to the model's rate interpolates across the range's edges;
    bridged, the kept frames there depend only on kept values, never on the curve being replaced
    (so the same kept animation gives the same request, whatever the range held before)."""
    out = curves.copy()
    T = len(curves)
    before = curves[start - 1, columns] if start > 0 else None
    after = curves[end + 1, columns] if end + 1 < T else None
    if before is None and after is None:
        return out
    before = after if before is None else before
    after = before if after is None else after
    u = (np.arange(start, end + 1) - (start - 1)) / (end + 2 - start)
    out[start:end + 1, columns] = before[None] + u[:, None] * (after - before)[None]
    return out


def shift_audio(audio: Audio, lead_s: float) -> Audio:
    """``audio`` moved ``lead_s`` seconds earlier (later when negative), padded with silence, same length."""
    n = int(round(abs(lead_s) * audio.sample_rate))
    if n == 0:
        return audio
    samples = np.zeros_like(audio.samples)
    if n < len(samples):
        if lead_s > 0:
            samples[:-n] = audio.samples[n:]
        else:
            samples[n:] = audio.samples[:-n]
    return dataclasses.replace(audio, samples=samples)


def shift_phones(phones, lead_s: float):
    """Phone spans moved ``lead_s`` seconds earlier, as ``shift_audio`` moves the sound."""
    return [(p, a - lead_s, b - lead_s) for p, a, b in phones] if lead_s else phones


class Engine:
    def __init__(self, model, config: dict, device: str = "cpu", source: str = ""):
        self.model = model
        self.config = config
        self.device = device
        self.source = source
        self.fps = float(config["fps"])
        self.default_steps = int(config["defaults"].get("steps", 20))
        self.default_guidance = float(config["defaults"].get("guidance", 1.5))
        self.default_lip_closure = float(config["defaults"].get("lip_closure", 1.0))
        self.default_style_guidance = float(config["defaults"].get("style_guidance", 1.0))
        self.style_dim = int(getattr(model.denoiser, "style_dim", 0))
        self._recognitions: OrderedDict[bytes, Recognition] = OrderedDict()  # by audio digest
        # A distilled student (server/training/distill.py) has its audio guidance baked in: its
        # defaults say guidance 1.0 (one denoiser pass a step) and its steps, on the step grid
        # it was distilled for. Explicit steps and guidance still run the full sampler.
        self.distilled = config.get("distilled") or None
        self.sampler = DDIMSampler(config.get("diffusion", {}).get("train_steps", 1000),
                                   spacing=(self.distilled or {}).get("spacing", "linspace"))
        self._lock = threading.Lock()  # one generation at a time on one model

    @classmethod
    def from_checkpoint(cls, path=None, device: str = "auto") -> "Engine":
        device = pick_device(device)
        model, config = load_checkpoint(path, device=device)
        return cls(model, config, device, source=str(path) if path else "default")

    def info(self) -> dict:
        n_params = sum(p.numel() for p in self.model.parameters())
        return {"model": self.config.get("name", "unnamed"), "checkpoint": self.source, "fps": self.fps,
                "channels": list(arkit.CHANNELS), "device": self.device, "parameters": n_params,
                "defaults": {"steps": self.default_steps, "guidance": self.default_guidance,
                             "lip_closure": self.default_lip_closure, "style_guidance": self.default_style_guidance},
                "style": bool(self.style_dim), "closure_detector": self.model.closure_detector is not None,
                "features": self.config["features"].get("kind"), "training": self.config.get("training", {}),
                "distilled": self.distilled}

    # --- request checks -------------------------------------------------------------------------

    def _validate(self, req: GenerationRequest) -> tuple[int, int, float, float]:
        if not isinstance(req.fps, (int, float)) or not math.isfinite(req.fps) or not 1.0 <= req.fps <= MAX_FPS:
            raise InputError(f"fps: {req.fps!r} is not a frame rate between 1 and {MAX_FPS:g}")
        if not 1 <= int(req.samples) <= MAX_SAMPLES:
            raise InputError(f"samples: {req.samples} is outside 1-{MAX_SAMPLES}")
        steps = self.default_steps if req.steps is None else int(req.steps)
        if not 1 <= steps <= MAX_STEPS:
            raise InputError(f"steps: {steps} is outside 1-{MAX_STEPS}")
        guidance = self.default_guidance if req.guidance is None else float(req.guidance)
        if not math.isfinite(guidance) or not 0.0 <= guidance <= MAX_GUIDANCE:
            raise InputError(f"guidance: {req.guidance} is outside 0-{MAX_GUIDANCE:g}")
        lip_closure = self.default_lip_closure if req.lip_closure is None else float(req.lip_closure)
        if not math.isfinite(lip_closure) or not 0.0 <= lip_closure <= 1.0:
            raise InputError(f"lip_closure: {req.lip_closure} is outside 0-1 (0 turns lip-closure guidance off)")
        t_out = num_frames(req.audio.duration, req.fps)
        for i, key in enumerate(req.keys):
            where = f"keys[{i}]"
            if arkit.canonical_name(str(key.channel)) is None:
                raise InputError(f"{where}.channel: {key.channel!r} is not an ARKit blendshape name")
            if not isinstance(key.frame, (int, np.integer)) or not 0 <= key.frame < t_out:
                raise InputError(f"{where}.frame: {key.frame} is outside the audio's frames 0-{t_out - 1} at {req.fps:g} fps")
            if not isinstance(key.value, (int, float)) or not math.isfinite(key.value) or not 0.0 <= key.value <= 1.0:
                raise InputError(f"{where}.value: {key.value!r} must be a number in [0, 1]")
        if not isinstance(req.offset, (int, float)) or not math.isfinite(req.offset) \
                or abs(req.offset) > MAX_OFFSET_SECONDS * req.fps:
            raise InputError(f"offset: {req.offset!r} frames is not within +-{MAX_OFFSET_SECONDS:g} s "
                             f"({MAX_OFFSET_SECONDS * req.fps:g} frames at {req.fps:g} fps)")
        if req.style:
            if not self.style_dim:
                raise InputError("style: this model has no style input; use a style-conditioned checkpoint "
                                 "(the shipped default model is one) or leave the style unset")
            try:
                check_values(req.style)
            except StyleError as e:
                raise InputError(str(e)) from None
        from server.speech.language import LanguageError, check_language

        try:
            check_language(req.language)
        except LanguageError as e:
            raise InputError(str(e)) from None
        if req.style_guidance is not None and (not isinstance(req.style_guidance, (int, float))
                                               or not math.isfinite(req.style_guidance)
                                               or not 0.0 <= req.style_guidance <= MAX_GUIDANCE):
            raise InputError(f"style_guidance: {req.style_guidance!r} is outside 0-{MAX_GUIDANCE:g}")
        for i, name in enumerate(req.regenerate_channels or ()):
            if name not in arkit.INDEX:
                raise InputError(f"regenerate.channels[{i}]: {name!r} is not a canonical ARKit channel name")
        if req.regenerate_channels is not None and req.regenerate is None:
            raise InputError("regenerate.channels: give the range to regenerate with it")
        if req.regenerate is not None and req.existing is None:
            raise InputError("regenerate: a range to regenerate needs the existing curves ('existing')")
        if req.existing is not None:
            ex = np.asarray(req.existing)
            if ex.ndim != 2 or ex.shape[1] != arkit.NUM_CHANNELS:
                raise InputError(f"existing: expected frames x {arkit.NUM_CHANNELS} values, got shape {ex.shape}")
            if ex.shape[0] != t_out:
                raise InputError(f"existing: {ex.shape[0]} frames, but the audio is {t_out} frames long at {req.fps:g} fps")
            if not np.all(np.isfinite(ex)):
                raise InputError("existing: contains NaN or infinite values")
            if req.regenerate is None:
                raise InputError("existing: give 'regenerate' (start and end frame) to say what to regenerate")
            start, end = req.regenerate
            if not (0 <= start <= end < t_out):
                raise InputError(f"regenerate: range {start}:{end} must satisfy 0 <= start <= end <= {t_out - 1}")
        return t_out, steps, guidance, lip_closure

    @staticmethod
    def _regenerated_columns(req: GenerationRequest) -> np.ndarray:
        if req.regenerate_channels is None:
            return np.arange(arkit.NUM_CHANNELS)
        return np.array(sorted(arkit.INDEX[c] for c in req.regenerate_channels), dtype=int)

    @staticmethod
    def _pinned_at_output(req: GenerationRequest, t_out: int) -> np.ndarray:
        """(T, 52) bool: the frames the request's keys pin (not the kept frames of an edit)."""
        pinned = np.zeros((t_out, arkit.NUM_CHANNELS), bool)
        for key in req.keys:
            pinned[key.frame, arkit.INDEX[arkit.canonical_name(str(key.channel))]] = True
        return pinned

    def _known_at_output(self, req: GenerationRequest, t_out: int):
        known = np.zeros((t_out, arkit.NUM_CHANNELS), np.float32)
        mask = np.zeros((t_out, arkit.NUM_CHANNELS), bool)
        if req.existing is not None:
            start, end = req.regenerate
            known[:] = np.clip(np.asarray(req.existing, np.float32), 0, 1)
            mask[:] = True
            mask[start:end + 1, self._regenerated_columns(req)] = False
        for key in req.keys:
            c = arkit.INDEX[arkit.canonical_name(str(key.channel))]
            known[key.frame, c] = key.value
            mask[key.frame, c] = True
        return known, mask

    def _known_at_model_rate(self, req, known_out, mask_out, t_model):
        """The condition the denoiser sees, at its own frame rate."""
        known = np.zeros((t_model, arkit.NUM_CHANNELS), np.float32)
        mask = np.zeros((t_model, arkit.NUM_CHANNELS), np.float32)
        if req.existing is not None:
            start, end = req.regenerate
            known[:] = resample_curves(_bridge(known_out, start, end, self._regenerated_columns(req)),
                                       req.fps, self.fps, t_model)
            times = np.arange(t_model) / self.fps
            # A model frame is kept if it lies outside the regenerated span (by half an output frame).
            outside = (times < (start - 0.5) / req.fps) | (times > (end + 0.5) / req.fps)
            mask[:] = 1.0
            mask[np.ix_(~outside, self._regenerated_columns(req))] = 0.0
        for key in req.keys:
            c = arkit.INDEX[arkit.canonical_name(str(key.channel))]
            f = min(t_model - 1, int(round(key.frame / req.fps * self.fps)))
            known[f, c] = key.value
            mask[f, c] = 1.0
        return known, mask

    # --- the denoiser over any length -----------------------------------------------------------

    def _denoise(self, x_t, t, audio, known, mask, guidance, cancel, style=None, style_guidance=1.0):
        T = x_t.shape[-1]
        denoiser = self.model.denoiser
        if T <= WINDOW_FRAMES:
            return guided_x0(denoiser, x_t, t, audio, known, mask, guidance, style, style_guidance)
        halo = denoiser.receptive_radius
        out = torch.empty_like(x_t)
        for a in range(0, T, WINDOW_FRAMES):
            if cancel is not None and cancel.is_set():
                raise GenerationCancelled("generation cancelled")
            b = min(T, a + WINDOW_FRAMES)
            lo, hi = max(0, a - halo), min(T, b + halo)
            sl = slice(lo, hi)
            y = guided_x0(denoiser, x_t[..., sl], t, audio[..., sl], known[..., sl], mask[..., sl], guidance,
                          None if style is None else style[..., sl], style_guidance)
            out[..., a:b] = y[..., a - lo:a - lo + (b - a)]
        return out

    def recognise(self, audio: Audio, progress=None, cancel=None) -> Recognition:
        """Recognised words and phones of ``audio``, cached: variations and edits of one line reuse them."""
        digest = hashlib.blake2b(np.ascontiguousarray(audio.samples).tobytes(), digest_size=16).digest()
        if digest in self._recognitions:
            self._recognitions.move_to_end(digest)
            return self._recognitions[digest]
        found = recognise(audio.samples, progress=progress, cancel=cancel)
        self._recognitions[digest] = found
        while len(self._recognitions) > RECOGNITION_CACHE:
            self._recognitions.popitem(last=False)
        return found

    def encode_audio(self, audio: Audio, t_model: int) -> torch.Tensor:
        feats = self.model.encoder.features(audio.samples).to(self.device)
        return self.model.encoder(feats[None], t_model, self.fps)

    # --- generation -----------------------------------------------------------------------------

    def take_styles(self, req: GenerationRequest, seeds: list[int]):
        """The style of each take: the request's keys held, the rest drawn from the take's seed
        (so a seed and a style give the same take again). None when the model has no style input."""
        if not self.style_dim:
            return None
        return [resolve(req.style, np.random.default_rng([int(seed) & 0xFFFFFFFF, STYLE_SEED_STREAM]))
                for seed in seeds]

    def closure_probability(self, audio_features: torch.Tensor) -> np.ndarray | None:
        """(T,) the closure detector's P(bilabial closure) per model frame; None without a detector."""
        if self.model.closure_detector is None:
            return None
        return torch.sigmoid(self.model.closure_detector(audio_features))[0].cpu().numpy()

    def _uses_recogniser(self, language: str) -> bool:
        from server.speech.language import uses_recogniser

        return uses_recogniser(language, has_detector=self.model.closure_detector is not None)

    @torch.no_grad()
    def generate(self, req: GenerationRequest, progress=None, cancel: threading.Event | None = None) -> GenerationResult:
        t_out, steps, guidance, lip_closure = self._validate(req)
        style_guidance = self.default_style_guidance if req.style_guidance is None else float(req.style_guidance)
        progress = progress or (lambda fraction, stage: None)
        started = time.perf_counter()
        with self._lock, _threads_for(req.samples * num_frames(req.audio.duration, self.fps)):
            t_model = num_frames(req.audio.duration, self.fps)
            # Recognition costs more than sampling one take: it gets the first third of the bar.
            sampling_from = 0.0
            words: list[str] = []
            phones: list[tuple[str, float, float]] = []
            sources: list[str] = []
            lead_s = req.offset / req.fps
            if lip_closure > 0 and req.transcript:
                from server.speech.transcript import transcript_phones

                progress(0.0, "aligning the transcript")
                aligned = transcript_phones(req.audio.samples, req.transcript, req.language, cancel=cancel)
                words, phones = aligned.words, shift_phones(aligned.phones, lead_s)
                sources.append("transcript")
                sampling_from = 0.3
            elif lip_closure > 0 and self._uses_recogniser(req.language):
                progress(0.0, "recognising speech")
                found = self.recognise(req.audio, lambda f: progress(0.3 * f, "recognising speech"), cancel)
                # The mouth leads by lead_s: the face at time t does what the speech does at t + lead_s.
                words, phones = found.words, shift_phones(found.phones, lead_s)
                sources.append("recogniser")
                sampling_from = 0.3
            progress(sampling_from, "encoding audio")
            audio = self.encode_audio(shift_audio(req.audio, lead_s), t_model)
            probability = self.closure_probability(audio) if lip_closure > 0 else None
            if probability is not None:
                sources.insert(0, "detector")

            def envelope_at(fps: float, frames: int) -> np.ndarray:
                env = closure_envelope(phones, frames, fps) if phones else np.zeros(frames)
                if probability is not None:
                    p = probability if fps == self.fps else _probability_at(probability, self.fps, fps, frames)
                    env = np.maximum(env, detector_envelope(p))
                return env

            envelope = torch.from_numpy(envelope_at(self.fps, t_model)).float().to(self.device)
            known_out, mask_out = self._known_at_output(req, t_out)
            known_m, mask_m = self._known_at_model_rate(req, known_out, mask_out, t_model)
            n = int(req.samples)
            seeds = [int(req.seed) + i for i in range(n)]
            styles = self.take_styles(req, seeds)
            style_b = None
            if styles is not None:
                vectors = torch.from_numpy(np.stack([style_vector(st) for st in styles]))
                style_b = vectors[:, :, None].expand(n, -1, t_model).contiguous().to(self.device)
            # Each take's noise comes from its own seed, so take i is reproducible on its own.
            x = torch.stack([torch.randn(arkit.NUM_CHANNELS, t_model, generator=torch.Generator().manual_seed(s))
                             for s in seeds]).to(self.device)
            audio_b = audio.expand(n, -1, -1)
            known = to_model_space(torch.from_numpy(known_m.T.copy()))[None].expand(n, -1, -1).to(self.device)
            mask = torch.from_numpy(mask_m.T.copy())[None].expand(n, -1, -1).to(self.device)
            timesteps = self.sampler.set_timesteps(steps).tolist()
            x0 = x
            for i, t in enumerate(timesteps):
                if cancel is not None and cancel.is_set():
                    raise GenerationCancelled("generation cancelled")
                tt = torch.full((n,), t, dtype=torch.long, device=self.device)
                x0 = self._denoise(x, tt, audio_b, known, mask, guidance, cancel, style_b,
                                   style_guidance).clamp(-1.0, 1.0)
                x0 = close_lips(x0, envelope, 1 - mask, lip_closure)
                x0_inpainted = mask * known + (1 - mask) * x0
                prev = timesteps[i + 1] if i + 1 < len(timesteps) else None
                x = self.sampler.step(x0_inpainted, t, x, prev)
                done = (i + 1) / len(timesteps)
                progress(min(0.95, sampling_from + 0.05 + (0.9 - sampling_from) * done), f"denoising step {i + 1}/{len(timesteps)}")
            progress(0.95, "resampling and joining")
            curves = from_model_space(x0).clamp(0, 1).transpose(1, 2).cpu().numpy()
            curves = resample_curves(curves, self.fps, req.fps, t_out)
            if sources and abs(req.fps - self.fps) > 1e-9:
                # A closure one model frame long can fall between two frames at another rate
                # (30 -> 24 fps): close the lips again on the output frames that overlap a p/b/m.
                out_envelope = torch.from_numpy(envelope_at(req.fps, t_out)).float()
                free_out = torch.from_numpy(~mask_out.T.copy()).float()[None].expand(n, -1, -1)
                closed = close_lips(to_model_space(torch.from_numpy(curves).transpose(1, 2)), out_envelope,
                                    free_out, lip_closure)
                curves = from_model_space(closed).clamp(0, 1).transpose(1, 2).numpy()
            width = SEAM_SECONDS * req.fps
            pinned = self._pinned_at_output(req, t_out)
            takes = np.stack([harmonize(c, known_out, mask_out, width, pinned) for c in curves])
            progress(1.0, "done")
        return GenerationResult(takes=takes, seeds=seeds, fps=float(req.fps), steps=steps, guidance=guidance,
                                seconds=time.perf_counter() - started, lip_closure=lip_closure,
                                recognised_words=words,
                                styles=None if styles is None else [public_dict(st) for st in styles],
                                style_guidance=style_guidance, closure_sources=sources)


def _probability_at(probability: np.ndarray, src_fps: float, dst_fps: float, frames: int) -> np.ndarray:
    """Detector probabilities at another frame rate: each output frame takes the largest of the
    model frames inside its interval (a one-frame closure must not fall between two frames)."""
    src = np.arange(len(probability)) / src_fps
    out = np.interp(np.arange(frames) / dst_fps, src, probability)
    owner = np.clip(np.floor(src * dst_fps + 0.5).astype(int), 0, frames - 1)
    np.maximum.at(out, owner, probability)
    return out
