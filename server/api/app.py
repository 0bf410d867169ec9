"""The FastAPI application: routes, error bodies, and the glue to the job store."""

from __future__ import annotations

import json
import secrets
import threading

import numpy as np
from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException

import server
from addon.core import arkit
from server.api import limits
from server.api.jobs import JobStore, QueueFull, ShuttingDown
from server.api.models import ErrorBody, Health, JobCreated, JobRequest, JobResult, JobStatus
from server.api.prepare import FieldError, prepare
from server.api.security import BodyLimitMiddleware, TokenMiddleware

# Decoding audio and checking curves is CPU and memory heavy; two at a time is enough on any
# machine and keeps many large concurrent uploads from holding all their decoded audio at once.
_PREPARE_SLOTS = threading.BoundedSemaphore(2)
RESULT_DECIMALS = 6  # 1e-6 of a [0, 1] coefficient is far below what any rig shows

_ERRORS = {code: {"model": ErrorBody} for code in (401, 404, 409, 413, 422, 503)}


def _field_path(loc) -> str:
    """("body", "keys", 3, "channel") -> "keys[3].channel"."""
    parts = [p for p in loc if p != "body"] if len(loc) > 1 else list(loc)
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "body"


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


class _Utf8JsonRequest(Request):
    """JSON bodies must be UTF-8 (RFC 8259). Anything else is malformed JSON (422 naming the body),
    not FastAPI's generic 400 "error parsing the body"."""

    async def json(self):
        if not hasattr(self, "_json"):
            raw = await self.body()
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise json.JSONDecodeError(f"not UTF-8 text at byte {e.start}", "", 0) from None
            self._json = json.loads(text)
        return self._json


class _Route(APIRoute):
    def get_route_handler(self):
        handle = super().get_route_handler()

        async def route_handler(request: Request):
            return await handle(_Utf8JsonRequest(request.scope, request.receive))

        return route_handler


def _error(status: int, message: str, field: str | None = None, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "field": field}, status_code=status, headers=headers)


def _result_chunks(job):
    """The result JSON one take at a time: a 16-take, 10-minute result is never all text at once."""
    head = {"id": job.id, "fps": job.fps, "channels": list(arkit.CHANNELS)}
    yield json.dumps(head, separators=(",", ":"))[:-1].encode() + b',"takes":['
    for i, (seed, frames) in enumerate(zip(job.seeds, job.takes)):
        rows = np.round(frames.astype(np.float64), RESULT_DECIMALS).tolist()
        take = json.dumps({"seed": seed, "frames": rows}, separators=(",", ":"))
        yield (b"," if i else b"") + take.encode()
    yield b"]}"


def create_app(engine, store: JobStore, token: str, *, max_audio_seconds: float = limits.MAX_AUDIO_SECONDS,
               max_body_bytes: int = limits.MAX_BODY_BYTES) -> FastAPI:
    info = engine.info()
    # No /docs or /redoc: they load scripts from a CDN, and the spec is at /openapi.json.
    app = FastAPI(title="Mouthpiece sidecar", version=server.__version__, docs_url=None, redoc_url=None,
                  description="Speech-driven ARKit blendshape curves. See docs/API.md.")
    app.router.route_class = _Route
    # Middleware added last runs first: the token is checked before any body is read.
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)
    app.add_middleware(TokenMiddleware, token=token)

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

    health_limits = {"max_body_bytes": max_body_bytes, "max_audio_seconds": max_audio_seconds,
                     "min_fps": limits.MIN_FPS, "max_fps": limits.MAX_FPS, "max_samples": limits.MAX_SAMPLES,
                     "max_steps": limits.MAX_STEPS, "max_guidance": limits.MAX_GUIDANCE,
                     "max_keys": limits.MAX_KEYS, "max_seed": limits.MAX_SEED,
                     "max_pending_jobs": store.limits.max_pending,
                     "keep_finished_jobs": store.limits.keep_finished,
                     "result_ttl_seconds": store.limits.result_ttl_s}

    @app.get("/v1/health", response_model=Health, summary="Is the sidecar up, and with which model (no token)")
    def health() -> Health:
        return Health(version=server.__version__, model=str(info.get("model", "unknown")),
                      fps=float(info.get("fps", 30.0)), channels=list(arkit.CHANNELS),
                      device=str(info.get("device", "cpu")), queue_length=store.queue_length(),
                      limits=health_limits)

    @app.post("/v1/jobs", response_model=JobCreated, status_code=202, responses=_ERRORS,
              summary="Queue a generation job")
    def create_job(body: JobRequest, response: Response) -> JobCreated:
        with _PREPARE_SLOTS:
            work = prepare(body, max_audio_seconds=max_audio_seconds, seed=secrets.randbelow(limits.MAX_SEED + 1))
        try:
            job = store.submit(work)
        except (QueueFull, ShuttingDown) as e:
            raise HTTPException(503, str(e), headers={"Retry-After": "5"}) from None
        response.headers["Location"] = f"/v1/jobs/{job.id}"
        return JobCreated(id=job.id, status=job.status, frames=work.frames)

    def _unknown(job_id: str) -> HTTPException:
        return HTTPException(404, f"no job {job_id!r}: it never existed or its result expired (finished jobs "
                                  f"are kept {store.limits.result_ttl_s / 60:g} minutes, the last "
                                  f"{store.limits.keep_finished} of them)")

    @app.get("/v1/jobs/{job_id}", response_model=JobStatus, responses=_ERRORS, summary="A job's status and progress")
    def job_status(job_id: str) -> JobStatus:
        status = store.status(job_id)
        if status is None:
            raise _unknown(job_id)
        return JobStatus(**status)

    @app.get("/v1/jobs/{job_id}/result", responses={200: {"model": JobResult}, **_ERRORS},
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

    @app.delete("/v1/jobs/{job_id}", response_model=JobStatus, responses=_ERRORS,
                summary="Cancel a queued or running job, or forget a finished one")
    def cancel_job(job_id: str) -> JobStatus:
        status = store.cancel(job_id)
        if status is None:
            raise _unknown(job_id)
        return JobStatus(**status)

    return app
