"""`mouthpiece serve`: load the model once, bind, announce, serve until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import sys
from pathlib import Path

import uvicorn

import server
from server import limits
from server.api.app import create_app
from server.api.connections import guarded_protocol
from server.api.jobs import JobStore
from server.api.security import (
    allowed_host_names,
    check_token,
    generate_token,
    is_loopback,
)
from server.api.state import StateKeeper, default_state_file, remove_state, write_state

log = logging.getLogger("mouthpiece.api")

TOKEN_ENV = "MOUTHPIECE_TOKEN"
# After SIGTERM: how long open HTTP requests may take to finish, and the worker to let go.
GRACEFUL_SHUTDOWN_S = 5.0
WORKER_STOP_S = 60.0


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1); any non-loopback address needs --token")
    parser.add_argument("--port", type=int, default=8765, help="TCP port (default 8765); 0 picks a free one")
    parser.add_argument("--token", default=None,
                        help=f"bearer token clients must send (default: ${TOKEN_ENV}, else a random one, "
                             "printed at startup and written to the state file)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--checkpoint", default=None, help="model checkpoint (default: the shipped model)")
    parser.add_argument("--state-file", type=Path, default=None,
                        help=f"where to write URL, token and pid (default {default_state_file()})")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--max-queue", type=int, default=limits.StoreLimits.max_pending,
                        help="jobs queued or running at once; more get 503 (default %(default)s)")
    parser.add_argument("--keep-results", type=int, default=limits.StoreLimits.keep_finished,
                        help="finished jobs kept; older ones are dropped (default %(default)s)")
    parser.add_argument("--result-ttl", type=float, default=limits.StoreLimits.result_ttl_s,
                        help="seconds a finished job's result is kept (default %(default)s)")
    parser.add_argument("--keep-result-mib", type=float, default=limits.StoreLimits.keep_result_bytes / 2**20,
                        help="MiB of finished results kept in all; the oldest go first (default %(default)g)")
    parser.add_argument("--max-audio-seconds", type=float, default=limits.MAX_AUDIO_SECONDS,
                        help="longest audio one job may send (default %(default)s)")
    parser.add_argument("--max-connections", type=int, default=limits.MAX_CONNECTIONS,
                        help="open HTTP connections at once; more are answered 503 (default %(default)s)")
    parser.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                        help="a further name clients may use in the Host header (besides localhost, 127.0.0.1, "
                             "::1 and --host); repeatable")
    parser.add_argument("--log-level", default="warning", choices=("debug", "info", "warning", "error"),
                        help="stderr log level (default warning: a parent that never reads stderr is safe)")


def _announce(payload: dict) -> None:
    """The one line on stdout the starting process reads."""
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


def _fail(message: str) -> int:
    _announce({"error": message})
    print(f"mouthpiece serve: {message}", file=sys.stderr)
    return 2


def _bind(host: str, port: int) -> socket.socket:
    info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)[0]
    # The protocol must be IPPROTO_TCP, not 0: accepted sockets inherit it, and asyncio sets
    # TCP_NODELAY only on sockets that say TCP (the protocol class sets it too).
    sock = socket.socket(info[0], socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(info[4])
    except OSError:
        sock.close()
        raise
    return sock


class _Server(uvicorn.Server):
    """uvicorn, except that a signal cancels the jobs first and the process then exits 0
    (uvicorn re-raises the signal after shutting down, which would end it with -SIGTERM)."""

    def __init__(self, config: uvicorn.Config, store: JobStore, on_started):
        super().__init__(config)
        self._store = store
        self._on_started = on_started

    async def startup(self, sockets=None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self._on_started()

    def handle_exit(self, sig, frame) -> None:
        if self.should_exit:
            self.force_exit = True  # a second signal: stop waiting for open connections
        self.should_exit = True

    async def shutdown(self, sockets=None) -> None:
        self._store.shutdown()  # frees the worker before waiting for HTTP connections
        await super().shutdown(sockets=sockets)


def serve_main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    token = args.token or os.environ.get(TOKEN_ENV) or None
    if token is not None and (problem := check_token(token)):
        return _fail(problem)
    if not is_loopback(args.host):
        if token is None:
            return _fail(f"refusing to bind {args.host}, which is not a loopback address, without a token: "
                         f"pass --token (or set ${TOKEN_ENV}), or bind 127.0.0.1")
    if token is None:
        token = generate_token()
    if not 0 <= args.port <= 65535:
        return _fail(f"--port {args.port} is not a TCP port (0-65535)")
    store_limits = limits.StoreLimits(max_pending=max(1, args.max_queue), keep_finished=max(0, args.keep_results),
                                      result_ttl_s=max(0.0, args.result_ttl),
                                      keep_result_bytes=int(max(0.0, args.keep_result_mib) * 2**20))

    # Bind before loading the model: a taken port fails in a moment, not after the load.
    try:
        sock = _bind(args.host, args.port)
    except OSError as e:
        return _fail(f"cannot bind {args.host}:{args.port}: {e.strerror or e}; "
                     "pick another --port, or 0 for a free one")

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    from server.engine import Engine
    from server.errors import MouthpieceError

    try:
        engine = Engine.from_checkpoint(args.checkpoint, device=args.device)
    except MouthpieceError as e:
        sock.close()
        return _fail(str(e))
    info = engine.info()
    host, port = sock.getsockname()[:2]
    url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    sock.listen(128)
    store = JobStore(engine, store_limits)
    app = create_app(engine, store, token, max_audio_seconds=args.max_audio_seconds,
                     allowed_hosts=allowed_host_names(args.host, tuple(args.allow_host)), port=port)
    state_file = args.state_file or default_state_file()
    pid = os.getpid()
    payload = {"url": url, "token": token, "pid": pid, "model": info.get("model"), "version": server.__version__,
               "fps": info.get("fps"), "device": info.get("device"), "state_file": str(state_file)}

    keeper = StateKeeper(state_file, payload)

    def started() -> None:
        try:
            write_state(state_file, payload)
            keeper.start()
        except OSError as e:
            log.warning("cannot write the state file %s: %s", state_file, e)
            payload["state_file"] = None
        _announce(payload)

    config = uvicorn.Config(app, log_config=None, log_level=args.log_level, access_log=False,
                            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S, lifespan="off", server_header=False,
                            http=guarded_protocol(max_connections=max(1, args.max_connections)),
                            ws="none",  # no WebSocket routes: an upgrade would only skip the HTTP checks
                            timeout_keep_alive=limits.KEEP_ALIVE_S)
    uv_server = _Server(config, store, started)
    store.start()
    try:
        uv_server.run(sockets=[sock])
    finally:
        store.shutdown()
        # The worker stops at its next denoising step; on a loaded machine a step can take seconds.
        stopped = store.join(WORKER_STOP_S)
        keeper.stop()  # before removing the file, or it would write it back
        remove_state(state_file, pid)
        sock.close()
        if not stopped:
            # Tearing the interpreter down under a thread still inside torch aborts the process
            # (exit -6); the job is already cancelled and the state file removed, so leave now.
            log.warning("the engine did not stop within %.0f s of being cancelled", WORKER_STOP_S)
            sys.stdout.flush()
            os._exit(0)
    return 0
