"""The engine: audio (+ pins, + an existing take to edit) -> N takes of ARKit curves.

``Engine.generate`` is one pipeline:

1. validate: ``server.request.check_request`` against the limits table (server/limits.py), then
   the model's defaults for what the request leaves unset;
2. closure sources: where the lips close (the model's closure detector; the transcript's or the
   recogniser's p/b/m, server/speech/) and, with a transcript, open (server/diffusion/closure.py);
3. the model callable, composed of wrappers: the denoiser with classifier-free guidance on the
   audio and the style (``guided``), over any length (``windowed``), lip closure and opening
   projected onto each x0 prediction (``with_closures``, ``with_openings``) and the known values
   put back (``inpainted``);
4. the sampler, ``sample_ddim`` (server/diffusion/sample.py), at the model's frame rate;
5. resample to the requested fps, and close the lips again at that rate (``closed_at_output_rate``);
6. harmonize: known values met exactly, edges joined without a seam (server/diffusion/inpainting.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
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
from server.diffusion.closure import (
    closed_at_output_rate,
    DETECTOR_HIGH,
    DETECTOR_LOW,
    closure_envelope,
    detector_envelope,
    opening_envelope,
    with_closures,
    with_openings,
)
from server.diffusion.guidance import guided
from server.diffusion.inpainting import (
    SEAM_SECONDS,
    harmonize,
    inpainted,
    known_at_model_rate,
    known_at_output,
    pinned_at_output,
)
from server.diffusion.sample import ddim_timesteps, sample_ddim
from server.diffusion.schedule import alpha_bar
from server.diffusion.windows import windowed
from server.errors import InputError
from server.request import GenerationRequest, Key, check_request  # noqa: F401  (Key: the engine's API)
from server.speech.recognise import Recognition, recognise
from server.style import public_dict, resolve
from server.style_calibration import condition_vector
from server.timebase import num_frames, resample_curves

RECOGNITION_CACHE = 64  # audio clips whose recognised phones are kept (takes and edits reuse them; small)
WINDOW_FRAMES = 1024  # model frames per denoiser call for long inputs (34 s at 30 fps)
STYLE_SEED_STREAM = 0x5717  # a take's style is drawn from (seed, this): apart from its noise
# What an edit takes from the kept animation around it when the request does not set it.
EDIT_INFERRED_KEYS = ("articulation", "smile", "asymmetry", "emotion", "intensity")


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
        self.train_steps = int(config.get("diffusion", {}).get("train_steps", 1000))
        self.alpha_bar = alpha_bar(self.train_steps)
        # A distilled student (server/training/distill.py) has its audio guidance baked in: its
        # defaults say guidance 1.0 (one denoiser pass a step) and its steps, on the step grid
        # it was distilled for. Explicit steps and guidance still run the full sampler.
        self.distilled = config.get("distilled") or None
        self.spacing = (self.distilled or {}).get("spacing", "linspace")
        # Intensity u asked for -> the denoiser's intensity input (server/style_calibration.py).
        self.intensity_calibration = config.get("intensity_calibration") or None
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

    def _validate(self, req: GenerationRequest) -> tuple[GenerationRequest, int, int, float, float]:
        """The request checked and canonical (server/request.py), its frames at fps, and the steps,
        guidance and lip-closure strength it runs with (the model's defaults where unset)."""
        req = check_request(req, style_input=bool(self.style_dim))
        steps = self.default_steps if req.steps is None else int(req.steps)
        guidance = self.default_guidance if req.guidance is None else float(req.guidance)
        lip_closure = self.default_lip_closure if req.lip_closure is None else float(req.lip_closure)
        return req, req.frames, steps, guidance, lip_closure

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

    def audio_features(self, audio: Audio) -> torch.Tensor:
        """(C, T_feat) the encoder's fixed features (log-mel) of the audio."""
        return self.model.encoder.features(audio.samples).to(self.device)

    def encode_audio(self, audio: Audio, t_model: int, features: torch.Tensor | None = None) -> torch.Tensor:
        feats = self.audio_features(audio) if features is None else features
        return self.model.encoder(feats[None], t_model, self.fps)

    # --- generation -----------------------------------------------------------------------------

    def take_styles(self, req: GenerationRequest, seeds: list[int]):
        """The style of each take: the request's keys held, the rest drawn from the take's seed
        (so a seed and a style give the same take again). None when the model has no style input.

        An edit (``existing`` with a range to regenerate) continues the performance around it: the
        levels the request leaves unset (EDIT_INFERRED_KEYS) are inferred from the kept curves
        (server/style_infer.py), not drawn afresh, so a regenerated range keeps the take's
        articulation, smile and emotion and joins without a change of character. Event rates
        (blinks, gaze, brow raises), which a short reference tells poorly, are still drawn."""
        if not self.style_dim:
            return None
        partial = dict(req.style or {})
        if req.existing is not None and req.regenerate is not None:
            from server.style_infer import FPS as INFER_FPS, MIN_FRAMES, infer_style

            # Only the kept frames: what the range held before must not decide what replaces it.
            start, end = req.regenerate
            existing = np.asarray(req.existing, np.float32)
            kept = np.concatenate([existing[:start], existing[end + 1:]])
            if len(kept) / req.fps >= MIN_FRAMES / INFER_FPS:
                inferred = public_dict(infer_style(kept, req.fps))
                partial = {**{k: inferred[k] for k in EDIT_INFERRED_KEYS}, **partial}
                if partial.get("emotion") == "neutral":
                    partial.pop("intensity", None)
        return [resolve(partial, np.random.default_rng([int(seed) & 0xFFFFFFFF, STYLE_SEED_STREAM]))
                for seed in seeds]

    def closure_probability(self, audio_vectors: torch.Tensor, features: torch.Tensor | None = None) -> np.ndarray | None:
        """(T,) the closure detector's P(bilabial closure) per model frame; None without a detector.

        ``audio_vectors`` (1, D, T) are the encoder's output; the acoustic detector reads the
        encoder's fixed ``features`` (C, T_feat) instead and is pooled to the model frames."""
        detector = self.model.closure_detector
        if detector is None:
            return None
        if detector.input == "features":
            if features is None:
                raise ValueError("the acoustic closure detector needs the audio features")
            p = torch.sigmoid(detector(features[None].float()))
            return detector.at_frames(p, audio_vectors.shape[-1], self.fps)[0].cpu().numpy()
        return torch.sigmoid(detector(audio_vectors))[0].cpu().numpy()

    def _uses_recogniser(self, language: str) -> bool:
        from server.speech.language import uses_recogniser

        return uses_recogniser(language, has_detector=self.model.closure_detector is not None)

    def _closure_phones(self, req: GenerationRequest, lip_closure: float, lead_s: float, progress, cancel):
        """(words, phones, sources, share of the progress bar used): the p/b/m and vowels that place
        the lip closures and openings, from the transcript or the recogniser, moved by the offset."""
        if lip_closure > 0 and req.transcript:
            from server.speech.transcript import transcript_phones

            progress(0.0, "aligning the transcript")
            aligned = transcript_phones(req.audio.samples, req.transcript, req.language, cancel=cancel)
            return aligned.words, shift_phones(aligned.phones, lead_s), ["transcript"], 0.3
        if lip_closure > 0 and self._uses_recogniser(req.language):
            # Recognition costs more than sampling one take: it gets the first third of the bar.
            progress(0.0, "recognising speech")
            found = self.recognise(req.audio, lambda f: progress(0.3 * f, "recognising speech"), cancel)
            # The mouth leads by lead_s: the face at time t does what the speech does at t + lead_s.
            return found.words, shift_phones(found.phones, lead_s), ["recogniser"], 0.3
        return [], [], [], 0.0

    @torch.no_grad()
    def generate(self, req: GenerationRequest, progress=None, cancel: threading.Event | None = None) -> GenerationResult:
        req, t_out, steps, guidance, lip_closure = self._validate(req)
        style_guidance = self.default_style_guidance if req.style_guidance is None else float(req.style_guidance)
        progress = progress or (lambda fraction, stage: None)
        started = time.perf_counter()
        with self._lock, _threads_for(req.samples * num_frames(req.audio.duration, self.fps)):
            t_model = num_frames(req.audio.duration, self.fps)
            lead_s = req.offset / req.fps

            # Closure sources: the transcript or the recogniser, and the model's closure detector.
            words, phones, sources, sampling_from = self._closure_phones(req, lip_closure, lead_s, progress, cancel)
            progress(sampling_from, "encoding audio")
            features = self.audio_features(shift_audio(req.audio, lead_s))
            audio = self.encode_audio(None, t_model, features)
            probability = self.closure_probability(audio, features) if lip_closure > 0 else None
            if probability is not None:
                sources.insert(0, "detector")

            thresholds = getattr(self.model.closure_detector, "envelope", (DETECTOR_LOW, DETECTOR_HIGH))

            def envelope_at(fps: float, frames: int) -> np.ndarray:
                env = closure_envelope(phones, frames, fps) if phones else np.zeros(frames)
                if probability is not None:
                    p = probability if fps == self.fps else _probability_at(probability, self.fps, fps, frames)
                    env = np.maximum(env, detector_envelope(p, *thresholds))
                return env

            envelope = torch.from_numpy(envelope_at(self.fps, t_model)).float().to(self.device)
            # A transcript also places the open vowels: the lips open at least a little on them.
            opening = (torch.from_numpy(opening_envelope(phones, t_model, self.fps)).float().to(self.device)
                       if "transcript" in sources else None)

            # The conditions of N takes: known values (inpainting), audio, style, each take's noise.
            known_out, mask_out = known_at_output(req, t_out)
            known_m, mask_m = known_at_model_rate(req, known_out, self.fps, t_model)
            n = int(req.samples)
            seeds = [int(req.seed) + i for i in range(n)]
            styles = self.take_styles(req, seeds)
            style_b = None
            if styles is not None:
                vectors = torch.from_numpy(np.stack([condition_vector(st, self.intensity_calibration) for st in styles]))
                style_b = vectors[:, :, None].expand(n, -1, t_model).contiguous().to(self.device)
            # Each take's noise comes from its own seed, so take i is reproducible on its own.
            x_T = torch.stack([torch.randn(arkit.NUM_CHANNELS, t_model, generator=torch.Generator().manual_seed(s))
                               for s in seeds]).to(self.device)
            audio_b = audio.expand(n, -1, -1)
            known = to_model_space(torch.from_numpy(known_m.T.copy()))[None].expand(n, -1, -1).to(self.device)
            mask = torch.from_numpy(mask_m.T.copy())[None].expand(n, -1, -1).to(self.device)
            free = 1 - mask

            # The model callable: guided denoiser, in windows, closures and openings, known values.
            timesteps = ddim_timesteps(steps, self.train_steps, self.spacing)
            denoiser = self.model.denoiser

            def conditioned(frames: slice):
                return guided(denoiser, audio_b[..., frames], known[..., frames], mask[..., frames], guidance,
                              None if style_b is None else style_b[..., frames], style_guidance)

            model_fn = windowed(conditioned, t_model, WINDOW_FRAMES, denoiser.receptive_radius, cancel)
            model_fn = with_closures(model_fn, envelope, free, lip_closure)
            model_fn = with_openings(model_fn, opening, free, lip_closure)
            model_fn = inpainted(model_fn, known, mask, last_t=timesteps[-1])

            def step_done(i, t, x, x0):
                done = (i + 1) / len(timesteps)
                progress(min(0.95, sampling_from + 0.05 + (0.9 - sampling_from) * done),
                         f"denoising step {i + 1}/{len(timesteps)}")

            x0 = sample_ddim(model_fn, x_T, timesteps, self.alpha_bar, callback=step_done, cancel=cancel)

            progress(0.95, "resampling and joining")
            curves = from_model_space(x0).clamp(0, 1).transpose(1, 2).cpu().numpy()
            curves = resample_curves(curves, self.fps, req.fps, t_out)
            if sources and abs(req.fps - self.fps) > 1e-9:
                curves = closed_at_output_rate(curves, envelope_at(req.fps, t_out), mask_out, lip_closure)
            pinned = pinned_at_output(req, t_out)
            takes = np.stack([harmonize(c, known_out, mask_out, SEAM_SECONDS * req.fps, pinned) for c in curves])
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
