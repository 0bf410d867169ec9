"""The speech's language, and what it decides: whether the English word recogniser may place
lip closures.

The recogniser (server/speech/recognise.py) knows only English: on other speech it still
"hears" English words and would put their p/b/m where the speaker's lips never met. The model's
own closure detector is trained on every language of the corpus, so it serves every language.
Told English, the recogniser's closures are added; told another language, never; not told
("auto"), a recognised closure counts only where the detector also hears one.
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

    English: yes. Another language: never. "auto": yes; with a closure detector the engine keeps
    only the recognised p/b/m the detector confirms (server/engine.py ``confirmed_bilabials``), so
    English words heard in other speech do not close the lips where the model hears no closure.
    """
    value = check_language(language)
    if value == AUTO:
        return True
    return value.split("-")[0] == "en"
