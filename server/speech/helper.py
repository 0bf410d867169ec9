"""A speech helper process (``python -m server.speech.helper``).

pocketsphinx holds Python's GIL for a whole decode, so word recognition
(server/speech/recognise.py) and transcript alignment (server/speech/transcript.py) run in
helper processes (server/speech/pool.py) and the sidecar only waits for them. Messages on
stdin/stdout as server/speech/protocol.py describes. End of stdin ends the process, so it never
outlives the sidecar that started it.
"""

from __future__ import annotations

import sys

from server.speech.protocol import read_message, write_message


def handle(request):
    """The answer to one request (server/speech/protocol.py), computed in this process."""
    from server.speech.alignment import AlignmentError

    try:
        kind, *args = request
        if kind == "recognise":
            from server.speech.recognise import recognise_segment

            return "ok", recognise_segment(*args)
        if kind == "align":
            from server.speech.alignment import align

            samples, transcript, options = args
            return "ok", align(samples, transcript, **options)
        return "error", f"unknown request {kind!r}"
    except AlignmentError as error:
        return "raise", error
    except Exception as error:   # noqa: BLE001 - reported to the caller, which decides
        return "error", f"{type(error).__name__}: {error}"


def main() -> int:
    from server.speech.recognise import load_recogniser

    requests, answers = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr          # nothing but answers on the answer pipe
    load_recogniser()                # while the sidecar prepares the audio (about half a second)
    while (request := read_message(requests)) is not None:
        write_message(answers, handle(request))
    return 0


if __name__ == "__main__":
    sys.exit(main())
