"""The speech-recognition helper process (``python -m server.speech.helper``).

pocketsphinx holds Python's GIL for a whole decode, so server.speech.recognise decodes in this
separate process and only waits for it. Protocol on stdin/stdout: length-prefixed pickles (an
8-byte little-endian length, then the bytes); each request is a float32 sample array, each
answer ``("ok", (words, phones))`` or ``("error", message)``. End of stdin ends the process,
so it never outlives the sidecar that started it.
"""

from __future__ import annotations

import pickle
import struct
import sys

_LENGTH = struct.Struct("<Q")


def read_message(stream):
    """The next message, or None at end of stream."""
    header = stream.read(_LENGTH.size)
    if len(header) < _LENGTH.size:
        return None
    (size,) = _LENGTH.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        return None
    return pickle.loads(data)


def write_message(stream, message) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LENGTH.pack(len(data)) + data)
    stream.flush()


def main() -> int:
    from server.speech.recognise import recognise_segment

    requests, answers = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr          # nothing but answers on the answer pipe
    while (samples := read_message(requests)) is not None:
        try:
            write_message(answers, ("ok", recognise_segment(samples)))
        except Exception as error:   # noqa: BLE001 - reported to the caller, which decides
            write_message(answers, ("error", f"{type(error).__name__}: {error}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
