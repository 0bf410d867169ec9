"""The bounds on one request and on the job store; docs/API.md states the same numbers."""

from __future__ import annotations

from dataclasses import dataclass

from server.timebase import MAX_OFFSET_SECONDS  # noqa: F401  (the API's bound too)

MAX_BODY_BYTES = 64 * 1024 * 1024  # base64 audio is 4/3 of the file: about 48 MiB of audio file
MAX_AUDIO_SECONDS = 10 * 60.0
MIN_FPS, MAX_FPS = 1.0, 120.0
MAX_SAMPLES = 16
MAX_STEPS = 200
MAX_GUIDANCE = 10.0
MAX_KEYS = 50_000
MAX_SEED = 2**31 - 1  # fits every client's integer type (JavaScript, C int)
# existing curves: one row per frame of the longest audio at the highest frame rate
MAX_EXISTING_ROWS = int(MAX_AUDIO_SECONDS * MAX_FPS) + 1
MAX_CHANNEL_NAME = 128
MAX_OFFSET_FRAMES = MAX_OFFSET_SECONDS * MAX_FPS  # the schema's bound; prepare checks it at the request's fps


@dataclass(frozen=True)
class StoreLimits:
    """How much work the job store holds. Queued and running jobs are never dropped;
    finished ones (done, failed, cancelled) are dropped after ``result_ttl_s`` or when more than
    ``keep_finished`` of them exist, oldest first."""

    max_pending: int = 64  # queued + running jobs
    max_pending_audio_s: float = 60 * 60.0  # total audio of queued + running jobs (memory bound)
    keep_finished: int = 32
    result_ttl_s: float = 30 * 60.0
