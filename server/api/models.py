"""The JSON bodies of the v1 API, as pydantic models (FastAPI serves them in /openapi.json).

They check the JSON's shape only, with bounds from the limits table (server/limits.py); the
request's own rules are server.request.check_request, which server/api/prepare.py calls."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from server import limits
from server.style import CONTROLS
from server.teacher.style import EMOTIONS, Style


class _Strict(BaseModel):
    # Unknown fields are an error (a misspelt "sample" must not silently mean samples=1),
    # and NaN or infinity never gets past the model.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class KeyIn(_Strict):
    frame: int = Field(ge=0, description="0-based frame at the request's fps; frame 0 is audio time 0")
    channel: str = Field(min_length=1, max_length=limits.MAX_CHANNEL_NAME,
                         description="ARKit channel; any spelling addon.core.arkit.canonical_name accepts "
                                     "(jawOpen, JawOpen, jaw_open, ...)")
    value: float = Field(ge=0.0, le=1.0, description="the coefficient the curve must pass through")


class ExistingIn(_Strict):
    channels: list[str] = Field(min_length=1, max_length=64,
                                description="column names of `frames`: each of the 52 ARKit channels once, any order")
    frames: list[list[float]] = Field(min_length=1, max_length=limits.MAX_EXISTING_ROWS,
                                      description="one row per frame of the audio at fps, values in [0, 1]")


class RangeIn(_Strict):
    start: int = Field(ge=0, description="first frame to regenerate")
    end: int = Field(ge=0, description="last frame to regenerate (inclusive); end >= start")
    channels: list[str] | None = Field(
        default=None, max_length=64,
        description="the ARKit channels regenerated in the range (any spelling); the others keep `existing` "
                    "on every frame and the model takes them as given; null: all 52")


_STYLE_MEANING = {"articulation": "jaw and lip amplitude: 0 mumbled, 1 neutral, 2 over-articulated",
                  "smile": "-1 frown .. 0 .. 1 smile", "asymmetry": "left-right imbalance (positive: the left moves more)",
                  "brow_activity": "how much the brows move (1: the average speaker)",
                  "blink_rate": "the measured blink rate times this", "gaze_activity": "saccade rate and amplitude times this",
                  "intensity": "how strongly the emotion shows (with an emotion other than neutral)"}

# The performance style: each key optional (unset keys are drawn per take). Ranges are those of
# server.teacher.Style, checked by server.style.check_values in prepare (one set of rules).
StyleIn = create_model(
    "StyleIn", __base__=_Strict,
    **{key: (float | None, Field(default=None, ge=Style.RANGES[key][0], le=Style.RANGES[key][1],
                                 description=f"{_STYLE_MEANING[key]}; "
                                 f"{Style.RANGES[key][0]:g} to {Style.RANGES[key][1]:g}"))
       for key in CONTROLS + ("intensity",)},
    emotion=(Literal[EMOTIONS] | None, Field(default=None, description="the emotion (null: neutral)")))


class JobRequest(_Strict):
    audio: str = Field(min_length=1, max_length=limits.MAX_BODY_BYTES,
                       description="the bytes of a WAV, FLAC or OGG file, base64 (standard alphabet)")
    fps: float = Field(default=30.0, ge=limits.MIN_FPS, le=limits.MAX_FPS, description="frame rate of frames in and out")
    samples: int = Field(default=1, ge=1, le=limits.MAX_SAMPLES, description="how many takes to generate")
    seed: int | None = Field(default=None, ge=0, le=limits.MAX_SEED,
                             description="seed of the first take (take i uses the seed in the result); null: random")
    steps: int | None = Field(default=None, ge=1, le=limits.MAX_STEPS, description="sampler steps; null: the model's default")
    guidance: float | None = Field(default=None, ge=0.0, le=limits.MAX_GUIDANCE,
                                   description="audio guidance scale; null: the model's default")
    lip_closure: float | None = Field(default=None, ge=0.0, le=limits.MAX_LIP_CLOSURE,
                                      description="lip-closure guidance at the p/b/m found by speech recognition, "
                                                  "0-1 (0: off); null: the model's default (1)")
    offset: float = Field(default=0.0, ge=-limits.MAX_OFFSET_FRAMES, le=limits.MAX_OFFSET_FRAMES,
                          description="frames by which the mouth leads the audio (negative: lags); animators "
                                      "often lead by 1-2; at most 1 s of frames at `fps`")
    keys: list[KeyIn] = Field(default_factory=list, max_length=limits.MAX_KEYS,
                              description="pins: each take passes through every key")
    existing: ExistingIn | None = Field(default=None, description="the current curves, needed with `regenerate`")
    regenerate: RangeIn | None = Field(default=None,
                                       description="frames to replace; the other frames keep `existing` exactly")
    style: StyleIn | None = Field(default=None,
                                  description="the performance style (a style-conditioned model: health's `style`); "
                                              "the keys given are held, the others drawn per take from its seed")
    style_guidance: float | None = Field(default=None, ge=0.0, le=limits.MAX_STYLE_GUIDANCE,
                                         description="guidance on the style (1: none; above 1 strengthens it); "
                                                     "null: the model's default")
    language: str = Field(default="auto", min_length=1, max_length=limits.MAX_LANGUAGE_CODE,
                          description="the speech's language: auto, or a code such as en, es, pt-br; the English "
                                      "recogniser places lip closures only for English")
    transcript: str | None = Field(default=None, max_length=limits.MAX_TRANSCRIPT_CHARS,
                                   description="what is said, when known: its words place the lip closures")


class StyleRequest(ExistingIn):
    """POST /v1/style: curves to infer the style of (the shape of a job's `existing`; channels it lacks are 0)."""

    channels: list[str] = Field(min_length=1, max_length=64,
                                description="column names of `frames`: ARKit channels, each at most once, any order "
                                            "(channels left out count as 0)")
    frames: list[list[float]] = Field(min_length=1, max_length=limits.MAX_EXISTING_ROWS,
                                      description="one row per frame at fps, values in [0, 1]")
    fps: float = Field(default=30.0, ge=limits.MIN_FPS, le=limits.MAX_FPS, description="frame rate of `frames`")


class StyleOut(BaseModel):
    """A style as the API reports it: every control, the emotion and its intensity."""

    articulation: float
    smile: float
    asymmetry: float
    brow_activity: float
    blink_rate: float
    gaze_activity: float
    emotion: Literal[EMOTIONS]
    intensity: float


JobStatusName = Literal["queued", "running", "done", "failed", "cancelled"]


class JobCreated(BaseModel):
    id: str
    status: JobStatusName
    frames: int = Field(description="frames per take the result will have")


class JobStatus(BaseModel):
    id: str
    status: JobStatusName
    progress: float = Field(ge=0.0, le=1.0)
    stage: str
    error: str | None
    queue_position: int | None = Field(description="jobs ahead of this one while queued, else null")
    created: float = Field(description="Unix time the job was submitted")
    started: float | None
    finished: float | None


class Take(BaseModel):
    seed: int
    style: StyleOut | None = Field(default=None, description="the style this take was drawn with "
                                                             "(null: the model has no style input)")
    frames: list[list[float]] = Field(description="one row of 52 values per frame, in `channels` order")


class JobResult(BaseModel):
    id: str
    fps: float
    channels: list[str]
    style_guidance: float | None = Field(default=None, description="the style guidance used")
    closure_sources: list[str] = Field(default_factory=list,
                                       description="what placed the lip closures: detector, recogniser, transcript")
    takes: list[Take]


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str
    api: str = "v1"
    model: str
    fps: float
    channels: list[str]
    device: str
    queue_length: int = Field(description="jobs queued or running")
    uploads_in_flight: int = Field(default=0, description="job uploads being read or decoded")
    limits: dict[str, int | float]
    style: bool = Field(default=False, description="the model takes a performance style (jobs' `style`)")
    closure_detector: bool = Field(default=False, description="the model has its own lip-closure detector")


class ErrorBody(BaseModel):
    error: str = Field(description="what went wrong and what to do about it")
    field: str | None = Field(default=None, description="the request field at fault, e.g. keys[3].channel")
