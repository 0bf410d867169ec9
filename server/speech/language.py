"""The speech's language, and what it decides: whether the English word recogniser may place
lip closures.

The recogniser (server/speech/recognise.py) knows only English: on other speech it still
"hears" English words and would put their p/b/m where the speaker's lips never met. The model's
own closure detector is trained on every language of the corpus, so it serves every language.
Told English or not told ("auto"), the recogniser's closures are added; told another language,
never.
"""

from __future__ import annotations

# The languages the shipped corpus speaks (docs/TEACHER.md): "auto" also accepts any other code.
TRAINED = ("en", "es", "fr", "de", "it", "pt", "ru", "pl", "hi", "cmn", "ja", "ar", "sw")
AUTO = "auto"
# ISO 639-2 "undetermined": speech of no language in particular. Not English, so the model's own
# closure detector alone places the closures (what the evaluation's "model alone" columns use).
UNDETERMINED = "und"


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

    English and "auto": yes. Another language: never.

    Measured (docs/RESULTS.md): on real English speech the detector alone closes 0.92 of the p/b/m
    and with the recogniser 1.00, so "auto" keeps the recogniser. Gating its closures by the earlier
    detector head's evidence lost 5 of 26 true English closures (the detector gives some real ones
    p < 0.07) while it confirmed 7 of the 9 it proposed on Malay speech, which has p, b and m
    of its own: no gain. Set the language for speech that is not English.
    """
    value = check_language(language)
    if value == AUTO:
        return True
    return value.split("-")[0] == "en"
