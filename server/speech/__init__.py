"""Speech recognition and forced alignment with pocketsphinx (its wheel ships the English models)."""
