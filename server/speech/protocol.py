"""The messages between the sidecar and its speech helper processes (server/speech/helper.py).

Length-prefixed pickles on a pipe: an 8-byte little-endian length, then the bytes. A request is
``("recognise", samples)`` or ``("align", samples, transcript, options)``; an answer is
``("ok", value)``, ``("raise", exception)`` for an error the caller handles as its own (an
AlignmentError) or ``("error", message)``.
"""

from __future__ import annotations

import pickle
import struct

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
