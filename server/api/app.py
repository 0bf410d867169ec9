"""The FastAPI application: routes, error bodies, and the glue to the job store."""

from __future__ import annotations

import asyncio
import json
import secrets
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pydantic
from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

import server
from addon.core import arkit
from server import limits
from server.api.jobs import JobStore, QueueFull, ResultTooLarge, ShuttingDown
from server.api.jsonbody import BodyError, parse_json
from server.api.models import (
    ErrorBody,
    Health,
    JobCreated,
    JobRequest,
    JobResult,
    JobStatus,
    StyleOut,
    StyleRequest,
)
from server.api.prepare import FieldError, prepare, reference_curves
from server.api.security import (
    LOOPBACK_NAMES,
    BodyLimitMiddleware,
    RequestOriginMiddleware,
    TokenMiddleware,
)
from server.audio import MAX_INPUT_CHANNELS

RESULT_DECIMALS = 6  # 1e-6 of a [0, 1] coefficient is far below what any rig shows
RESULT_ROWS_PER_CHUNK = 2048  # frames serialised at a time: a 10-minute take is never all text at once
RETRY_AFTER_S = "5"

_ERRORS = {code: {"model": ErrorBody} for code in (400, 401, 403, 404, 408, 409, 413, 422, 503)}
# The links let a stateful client (and schemathesis) follow a created job to its other endpoints.
_JOB_LINKS = {name: {"operationId": operation, "parameters": {"job_id": "$response.body#/id"}}
              for name, operation in (("status", "job_status"), ("result", "job_result"), ("cancel", "cancel_job"))}


def _field_path(loc) -> str:
    """("body", "keys", 3, "channel") -> "keys[3].channel"."""
    parts = [p for p in loc if p != "body"] if len(loc) > 1 else list(loc)
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    # A body that is itself an array: its items are body[0], body[1], ...
    return "body" + text if text.startswith("[") else text or "body"


def _validation_message(errors) -> tuple[str, str]:
    first = errors[0]
    field = _field_path(first.get("loc", ()))
    if first.get("type") == "json_invalid":
        where = first.get("ctx", {}).get("error", "")
        return f"body: malformed JSON ({where}); send one JSON object", "body"
    if first.get("type") == "extra_forbidden":
        return f"{field}: unknown field; see docs/API.md for the fields a job takes", field
    if first.get("type") == "missing":
        return f"{field}: required", field
    return f"{field}: {first.get('msg', 'invalid')}", field


class UploadGate:
    """Job uploads are read and decoded here, never on the request threads that answer health
    and status: at most ``max_in_flight`` at once (from the first byte read to the job queued),
    decoded on ``workers`` threads of their own; more are answered 503 with Retry-After at once,
    their body drained without being kept. A slot is given back when the decode really ends,
    even when the client has gone."""

    def __init__(self, workers: int = limits.UPLOAD_WORKERS, max_in_flight: int = limits.MAX_UPLOADS_IN_FLIGHT):
        self.max_in_flight = max_in_flight
        self.in_flight = 0  # touched only on the event loop
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="mouthpiece-upload")

    def enter(self) -> bool:
        if self.in_flight >= self.max_in_flight:
            return False
        self.in_flight += 1
        return True

    def leave(self) -> None:
        self.in_flight -= 1

    async def run(self, fn, *args):
        """``fn(*args)`` on an upload thread; the slot is given back when it returns."""
        loop = asyncio.get_running_loop()
        future = self._pool.submit(fn, *args)
        future.add_done_callback(lambda _: self._leave_from_thread(loop))
        return await asyncio.wrap_future(future)

    def _leave_from_thread(self, loop) -> None:
        try:
            loop.call_soon_threadsafe(self.leave)
        except RuntimeError:
            pass  # the loop has closed: the server is gone, and its count with it


def _parse_job(raw: bytes, max_audio_seconds: float, style_input: bool = True):
    """The body -> a checked job (on an upload thread: JSON, validation and audio decoding)."""
    try:
        value = parse_json(raw)
    except json.JSONDecodeError as e:
        raise RequestValidationError([{"type": "json_invalid", "loc": ("body", e.pos), "msg": "JSON decode error",
                                       "ctx": {"error": e.msg}}]) from None
    try:
        request = JobRequest.model_validate(value)
    except pydantic.ValidationError as e:
        raise RequestValidationError([{**err, "loc": ("body", *err["loc"])} for err in e.errors()]) from None
    return prepare(request, max_audio_seconds=max_audio_seconds, seed=secrets.randbelow(limits.MAX_SEED + 1),
                   style_input=style_input)


def _error(status: int, message: str, field: str | None = None, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "field": field}, status_code=status, headers=headers)


def _dumps(value) -> str:
    # allow_nan=False: a NaN would be invalid JSON; the job store already failed such a job.
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def _result_chunks(job):
    """The result JSON a block of frames at a time: a 16-take, 10-minute result is never all
    text (or all Python floats) at once."""
    head = {"id": job.id, "fps": job.fps, "channels": list(arkit.CHANNELS), "style_guidance": job.style_guidance,
            "closure_sources": list(job.closure_sources)}
    yield _dumps(head)[:-1].encode() + b',"takes":['
    styles = job.styles or [None] * len(job.seeds)
    for i, (seed, style, frames) in enumerate(zip(job.seeds, styles, job.takes)):
        yield (b"," if i else b"") + f'{{"seed":{int(seed)},"style":{_dumps(style)},"frames":['.encode()
        for start in range(0, len(frames), RESULT_ROWS_PER_CHUNK):
            rows = np.round(frames[start:start + RESULT_ROWS_PER_CHUNK].astype(np.float64), RESULT_DECIMALS).tolist()
            yield (b"," if start else b"") + _dumps(rows)[1:-1].encode()
        yield b"]}"
    yield b"]}"


def create_app(engine, store: JobStore, token: str, *, max_audio_seconds: float = limits.MAX_AUDIO_SECONDS,
               max_body_bytes: int = limits.MAX_BODY_BYTES, allowed_hosts: frozenset[str] = LOOPBACK_NAMES,
               port: int = 8765, uploads: UploadGate | None = None) -> FastAPI:
    info = engine.info()
    style_input = bool(info.get("style", False))
    uploads = uploads or UploadGate()
    # No /docs or /redoc: they load scripts from a CDN, and the spec is at /openapi.json.
    app = FastAPI(title="Mouthpiece sidecar", version=server.__version__, docs_url=None, redoc_url=None,
                  description="Speech-driven ARKit blendshape curves. See docs/API.md.")
    # Middleware added last runs first: Host and Origin, then the token, all before any body is read.
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)
    app.add_middleware(TokenMiddleware, token=token)
    app.add_middleware(RequestOriginMiddleware, allowed_names=allowed_hosts, port=port)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        errors = exc.errors()
        message, field = _validation_message(errors)
        body = {"error": message, "field": field,
                "detail": [{"field": _field_path(e.get("loc", ())), "message": e.get("msg", "")}
                           for e in errors[:20]]}
        return JSONResponse(body, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        return _error(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(FieldError)
    async def _field(request: Request, exc: FieldError):
        return _error(422, str(exc), exc.field)

    @app.exception_handler(BodyError)
    async def _unparseable(request: Request, exc: BodyError):
        field = _field_path(("body", *exc.loc))
        return _error(400, f"{field}: {exc}", field)

    health_limits = {"max_body_bytes": max_body_bytes, "max_audio_seconds": max_audio_seconds,
                     "min_fps": limits.MIN_FPS, "max_fps": limits.MAX_FPS, "max_samples": limits.MAX_SAMPLES,
                     "max_steps": limits.MAX_STEPS, "max_guidance": limits.MAX_GUIDANCE,
                     "max_style_guidance": limits.MAX_STYLE_GUIDANCE, "max_offset_seconds": limits.MAX_OFFSET_SECONDS,
                     "max_keys": limits.MAX_KEYS, "max_seed": limits.MAX_SEED,
                     "max_transcript_chars": limits.MAX_TRANSCRIPT_CHARS,
                     "max_pending_jobs": store.limits.max_pending,
                     "keep_finished_jobs": store.limits.keep_finished,
                     "result_ttl_seconds": store.limits.result_ttl_s,
                     "keep_result_bytes": store.limits.keep_result_bytes,
                     "max_audio_channels": MAX_INPUT_CHANNELS, "max_uploads_in_flight": uploads.max_in_flight}

    # health, status and cancel are async: they only read memory under the store's short lock,
    # so they answer on the event loop without waiting for a thread.
    @app.get("/v1/health", operation_id="health", response_model=Health, responses={403: {"model": ErrorBody}},
             summary="Is the sidecar up, and with which model (no token)")
    async def health() -> Health:
        return Health(version=server.__version__, model=str(info.get("model", "unknown")),
                      fps=float(info.get("fps", 30.0)), channels=list(arkit.CHANNELS),
                      device=str(info.get("device", "cpu")), queue_length=store.queue_length(),
                      uploads_in_flight=uploads.in_flight, limits=health_limits, style=style_input,
                      closure_detector=bool(info.get("closure_detector", False)))

    @app.post("/v1/jobs", operation_id="create_job", response_model=JobCreated, status_code=202,
              responses={**_ERRORS, 202: {"links": _JOB_LINKS}}, summary="Queue a generation job",
              openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                  "schema": {"$ref": "#/components/schemas/JobRequest"}}}}})
    async def create_job(request: Request, response: Response) -> JobCreated:
        # The body is read here but parsed, validated and decoded on an upload thread: 64 MiB of
        # `existing` curves take up to a second of JSON parsing, which must not stall the event loop.
        if not uploads.enter():
            # Drained, not kept: answering before the body is read would make the kernel reset the
            # connection under a client still sending, which then never sees the 503.
            try:
                async for _ in request.stream():
                    pass
            except ClientDisconnect:
                pass
            raise HTTPException(503, f"{uploads.max_in_flight} uploads are being read or decoded; retry shortly",
                                headers={"Retry-After": RETRY_AFTER_S})
        handed_over = False
        try:
            raw = await request.body()
            handed_over = True
            work = await uploads.run(_parse_job, raw, max_audio_seconds, style_input)
        except ClientDisconnect:
            return Response(status_code=400)  # nobody is left to read it
        finally:
            if not handed_over:
                uploads.leave()
        try:
            job = store.submit(work)
        except ResultTooLarge as e:
            raise FieldError("samples", str(e)) from None
        except (QueueFull, ShuttingDown) as e:
            raise HTTPException(503, str(e), headers={"Retry-After": RETRY_AFTER_S}) from None
        response.headers["Location"] = f"/v1/jobs/{job.id}"
        return JobCreated(id=job.id, status=job.status, frames=work.frames)

    def _unknown(job_id: str) -> HTTPException:
        return HTTPException(404, f"no job {job_id!r}: it never existed or its result expired (finished jobs "
                                  f"are kept {store.limits.result_ttl_s / 60:g} minutes, the last "
                                  f"{store.limits.keep_finished} of them)")

    @app.get("/v1/jobs/{job_id}", operation_id="job_status", response_model=JobStatus,
             responses={**_ERRORS, 200: {"links": {k: v for k, v in _JOB_LINKS.items() if k != "status"}}},
             summary="A job's status and progress")
    async def job_status(job_id: str) -> JobStatus:
        status = store.status(job_id)
        if status is None:
            raise _unknown(job_id)
        return JobStatus(**status)

    @app.get("/v1/jobs/{job_id}/result", operation_id="job_result", responses={200: {"model": JobResult}, **_ERRORS},
             summary="The takes of a finished job")
    def job_result(job_id: str) -> Response:
        found = store.result(job_id)
        if found is None:
            raise _unknown(job_id)
        status, job = found
        if status["status"] != "done":
            hint = {"queued": "poll GET /v1/jobs/{id} until it is done",
                    "running": f"it is {status['progress']:.0%} done; poll GET /v1/jobs/{{id}} until it is done",
                    "failed": f"it failed: {status['error']}",
                    "cancelled": "it was cancelled"}[status["status"]]
            raise HTTPException(409, f"job {job_id} is {status['status']}, no result: {hint}")
        return StreamingResponse(_result_chunks(job), media_type="application/json")

    @app.delete("/v1/jobs/{job_id}", operation_id="cancel_job", response_model=JobStatus, responses=_ERRORS,
                summary="Cancel a queued or running job, or forget a finished one")
    async def cancel_job(job_id: str) -> JobStatus:
        status = store.cancel(job_id)
        if status is None:
            raise _unknown(job_id)
        return JobStatus(**status)

    @app.post("/v1/style", operation_id="infer_style", response_model=StyleOut, responses=_ERRORS,
              summary="Infer the performance style of curves (Match Style)")
    def infer_style(body: StyleRequest) -> StyleOut:
        # A plain def: FastAPI runs it on a worker thread, so the statistics never stall the event loop.
        from server.style import public_dict
        from server.style_infer import StyleInferenceError
        from server.style_infer import infer_style as infer

        curves = reference_curves(body)
        try:
            return StyleOut(**public_dict(infer(curves, body.fps)))
        except StyleInferenceError as e:
            raise FieldError("frames", str(e).removeprefix("curves: ")) from None

    def openapi() -> dict:
        # The job body is parsed by hand (off the event loop), so FastAPI does not see its model;
        # publish it where the route's requestBody points.
        if app.openapi_schema is None:
            spec = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            schemas = spec.setdefault("components", {}).setdefault("schemas", {})
            body = JobRequest.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(body.pop("$defs", {}))
            schemas["JobRequest"] = body
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi
    return app
