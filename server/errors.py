"""Errors the engine raises; each message says what to fix."""


class MouthpieceError(Exception):
    """Base class of every error Mouthpiece reports to a user."""


class InputError(MouthpieceError, ValueError):
    """Bad input (audio, keys, ranges, curves): the message names the field and what to fix."""


class CheckpointError(MouthpieceError):
    """A missing, corrupt or incompatible model checkpoint."""


class GenerationCancelled(MouthpieceError):
    """The caller cancelled a running generation."""


class FieldError(InputError):
    """A request field is wrong; ``field`` names it as the API's JSON does (``keys[3].channel``)
    and ``str(e)`` is ``"field: what to fix"``."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
