"""The speech's language, and what it decides: whether the English word recogniser may place
lip closures.

The recogniser (server/speech/recognise.py) knows only English: on other speech it still
"hears" English words and would put their p/b/m where the speaker's lips never met. The model's
own closure detector is trained on every language of the corpus, so it serves every language;
the recogniser is added only for English.
"""

from __future__ import annotations

# The languages the shipped corpus speaks (docs/TEACHER.md): "auto" also accepts any other code.
TRAINED = ("en", "es", "fr", "de", "it", "pt", "ru", "pl", "hi", "cmn", "ja", "ar", "sw")
AUTO = "auto"


class LanguageError(ValueError):
    pass


def check_language(code: str) -> str:
    """A language setting: "auto" or a language code (letters, an optional region: en, pt-br)."""
    if not isinstance(code, str):
        raise LanguageError(f"language: {code!r} is not a language code such as 'en' or 'auto'")
    value = code.strip().lower()
    if value == AUTO:
        return value
    base, _, region = value.partition("-")
    if not (2 <= len(base) <= 3 and base.isalpha()) or (region and not region.isalnum()):
        raise LanguageError(f"language: {code!r} is not a language code such as 'en', 'es', 'pt-br' or 'auto'")
    return value


def uses_recogniser(language: str, *, has_detector: bool) -> bool:
    """Whether the English recogniser places closures for speech in ``language``.

    English: yes. Another language: never. "auto": yes only for a model without a closure
    detector (it has nothing else); with a detector, the detector alone, in every language.
    """
    value = check_language(language)
    if value == AUTO:
        return not has_detector
    return value.split("-")[0] == "en"
