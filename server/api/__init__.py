"""The sidecar's HTTP API (v1): FastAPI app, job queue with one worker, security.

``mouthpiece serve`` calls :func:`add_serve_arguments` and :func:`serve_main`; docs/API.md
describes the endpoints.
"""

from server.api.serve import add_serve_arguments, serve_main

__all__ = ["add_serve_arguments", "serve_main"]
