"""A request body as JSON, with the two inputs Python's parser cannot take named by field.

``json.loads`` is fast and right for every body a client means to send, so it parses first.
Nesting deeper than the interpreter's recursion limit (RecursionError) and integers longer than
Python's digit limit (ValueError) are its only failures that are not JSON syntax errors; for
those two, a small scanner that keeps the path walks the text again and names the field, e.g.
``keys[0].frame: an integer of 5000 digits``. Syntax errors stay ``json.JSONDecodeError``.
"""

from __future__ import annotations

import json
import re
import sys

# No job field nests deeper than three (existing.frames[t][c]); anything near the recursion
# limit is an attack or a bug, and the scanner stops at this depth.
MAX_JSON_DEPTH = 32

_WHITESPACE = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"-?(\d+)(\.\d+)?([eE][-+]?\d+)?")
_LITERALS = ("true", "false", "null", "NaN", "Infinity", "-Infinity")


class BodyError(ValueError):
    """The body is JSON no job can be: ``loc`` is the path to the value at fault."""

    def __init__(self, loc: tuple, message: str):
        super().__init__(message)
        self.loc = loc


def max_int_digits() -> int:
    return sys.get_int_max_str_digits() or 4300


def parse_json(raw: bytes):
    """The body's JSON value. Raises json.JSONDecodeError (malformed or not UTF-8) or BodyError."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise json.JSONDecodeError(f"not UTF-8 text at byte {e.start}", "", 0) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise
    except (RecursionError, ValueError):
        found = find_unparseable(text)
        if found is None:  # cannot happen for these two errors; still say something true
            raise BodyError((), "nested too deeply or holds too long a number; send the job as documented") from None
        raise found from None


def find_unparseable(text: str) -> BodyError | None:
    """The first value nested deeper than MAX_JSON_DEPTH or holding an over-long integer.

    Iterative (a recursive scanner would hit the same limit) and stops at the first find, so a
    100,000-level body costs only the first MAX_JSON_DEPTH levels. None when there is neither, or
    when the text is not JSON (json.loads reports that better).
    """
    stack: list[list] = []  # [kind, key or index] per open container
    i, n = 0, len(text)

    def ws(at: int) -> int:
        return _WHITESPACE.match(text, at).end()

    def loc() -> tuple:
        return tuple(frame[1] for frame in stack if frame[1] is not None)

    def object_key(at: int) -> int | None:
        """Read `"key":` at ``at`` into the open object; the position after the colon."""
        if at >= n or text[at] != '"':
            return None
        try:
            key, at = json.decoder.scanstring(text, at + 1)
        except json.JSONDecodeError:
            return None
        at = ws(at)
        if at >= n or text[at] != ":":
            return None
        stack[-1][1] = key
        return at + 1

    while True:
        i = ws(i)
        if i >= n:
            return None
        ch = text[i]
        if ch in "{[":
            if len(stack) >= MAX_JSON_DEPTH:
                return BodyError(loc(), f"nested more than {MAX_JSON_DEPTH} levels deep; no field of a job nests "
                                        "deeper than 3 (existing.frames); send the job as docs/API.md describes")
            stack.append([ch, None])
            i = ws(i + 1)
            closer = "}" if ch == "{" else "]"
            if i < n and text[i] == closer:
                stack.pop()
                i += 1
            elif ch == "{":
                i = object_key(i)
                if i is None:
                    return None
                continue
            else:
                stack[-1][1] = 0
                continue
        elif ch == '"':
            try:
                _, i = json.decoder.scanstring(text, i + 1)
            except json.JSONDecodeError:
                return None
        elif (number := _NUMBER.match(text, i)) is not None:
            digits = len(number.group(1))
            if number.group(2) is None and number.group(3) is None and digits > max_int_digits():
                return BodyError(loc(), f"an integer of {digits} digits; no field takes one that long "
                                        "(see the limits in docs/API.md)")
            i = number.end()
        else:
            literal = next((lit for lit in _LITERALS if text.startswith(lit, i)), None)
            if literal is None:
                return None
            i += len(literal)
        # A value ended: close finished containers, or move to the next item of the open one.
        while True:
            if not stack:
                return None
            i = ws(i)
            if i >= n:
                return None
            kind = stack[-1][0]
            if text[i] == ("}" if kind == "{" else "]"):
                stack.pop()
                i += 1
                continue
            if text[i] != ",":
                return None
            i = ws(i + 1)
            if kind == "{":
                i = object_key(i)
                if i is None:
                    return None
            else:
                stack[-1][1] += 1
            break
