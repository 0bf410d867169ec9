"""The one table of limits: the bounds on one generation request, used by the engine's
validation (server/request.py), the API's pydantic bounds (server/api/models.py) and the CLI,
then the bounds of the sidecar's HTTP side and job store. docs/API.md states the same numbers."""

from __future__ import annotations

from dataclasses import dataclass

# --- one generation request (engine, API and CLI alike) --------------------------------------------
MIN_FPS, MAX_FPS = 1.0, 120.0
MAX_SAMPLES = 16
MAX_STEPS = 200
MAX_GUIDANCE = 10.0  # audio guidance scale, 0 to this
MAX_STYLE_GUIDANCE = 10.0
MAX_LIP_CLOSURE = 1.0  # lip-closure strength, 0 (off) to this
MAX_OFFSET_SECONDS = 1.0  # the mouth leads or lags the audio by at most this
MAX_SEED = 2**31 - 1  # fits every client's integer type (JavaScript, C int)
MAX_KEYS = 50_000
MAX_AUDIO_SECONDS = 10 * 60.0  # decoding refuses longer audio (the sidecar's --max-audio-seconds default)
MAX_TRANSCRIPT_CHARS = 20_000  # about 30 minutes of speech, more than the longest audio
MAX_LANGUAGE_CODE = 16
MAX_CHANNEL_NAME = 128
# existing curves: one row per frame of the longest audio at the highest frame rate
MAX_EXISTING_ROWS = int(MAX_AUDIO_SECONDS * MAX_FPS) + 1
MAX_OFFSET_FRAMES = MAX_OFFSET_SECONDS * MAX_FPS  # the schema's bound; validation checks it at the request's fps

# --- the sidecar's HTTP side ----------------------------------------------------------------------
MAX_BODY_BYTES = 64 * 1024 * 1024  # base64 audio is 4/3 of the file: about 48 MiB of audio file
# Uploads are read and decoded off the request threads, on UPLOAD_WORKERS threads of their own;
# at most MAX_UPLOADS_IN_FLIGHT are admitted (read, waiting or decoding) and more get 503, so
# bodies held at once are bounded (12 x 64 MiB) and health and status never wait behind them.
# 12 leaves room for a pipeline's 8 concurrent clients (tests/test_api_load.py).
UPLOAD_WORKERS = 2
MAX_UPLOADS_IN_FLIGHT = 12
# Connections: more open at once are refused with 503. A client must finish its request line
# and headers within HEADER_TIMEOUT_S of connecting (or of starting the next request on a
# kept-alive connection), send body bytes at least every BODY_IDLE_TIMEOUT_S, and the whole
# request within REQUEST_READ_TIMEOUT_S; else the connection is closed.
MAX_CONNECTIONS = 64
HEADER_TIMEOUT_S = 10.0
BODY_IDLE_TIMEOUT_S = 10.0
REQUEST_READ_TIMEOUT_S = 60.0
KEEP_ALIVE_S = 5.0
# Bytes per kept result value (float32)
RESULT_VALUE_BYTES = 4


@dataclass(frozen=True)
class StoreLimits:
    """How much work the job store holds. Queued and running jobs are never dropped;
    finished ones (done, failed, cancelled) are dropped after ``result_ttl_s`` or when more than
    ``keep_finished`` of them exist, oldest first."""

    max_pending: int = 64  # queued + running jobs
    max_pending_audio_s: float = 60 * 60.0  # total audio of queued + running jobs (memory bound)
    keep_finished: int = 32
    result_ttl_s: float = 30 * 60.0
    # Bytes of finished results kept, in all; the oldest go first. The largest job's result
    # (16 takes x 10 minutes at 120 fps, 240 MB) fits, so a job's own result is always kept.
    keep_result_bytes: int = 512 * 1024 * 1024
