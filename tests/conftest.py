import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session")
def tiny_checkpoint():
    """Path of a tiny model trained in this test session (cached across sessions by code hash)."""
    from tests.tiny_model import tiny_checkpoint as make

    return make()


@pytest.fixture(scope="session")
def tiny_corpus():
    from tests.tiny_model import tiny_corpus as make

    return make()


@pytest.fixture(scope="session")
def engine(tiny_checkpoint):
    from server.engine import Engine

    return Engine.from_checkpoint(tiny_checkpoint, device="cpu")


@pytest.fixture(scope="session")
def speech_wav(tmp_path_factory):
    """A real synthesised sentence (espeak-ng), 22.05 kHz mono WAV."""
    path = tmp_path_factory.mktemp("speech") / "sentence.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(path),
                    "Maybe the bright blue ball bounced past my father's foot."], check=True)
    return path


# Silence around the bilabial sentence, in seconds (its phone times include it).
BILABIAL_SENTENCE_PAD_S = 0.5


@pytest.fixture(scope="session")
def bilabial_sentence():
    """An espeak-ng sentence full of bilabials, with its true phone times, as the engine sees it."""
    import io

    import numpy as np
    import soundfile as sf

    from server.audio import SAMPLE_RATE, load_audio
    from server.corpus.build import synth_phrase
    from server.corpus.engines import Voice

    speech, phones = synth_phrase("Bob bought a map of the big pub by the lamp.", Voice("espeak", "en-us"))
    pad_s = BILABIAL_SENTENCE_PAD_S
    pad = np.zeros(int(pad_s * SAMPLE_RATE), np.float32)
    buf = io.BytesIO()
    sf.write(buf, np.concatenate([pad, speech, pad]), SAMPLE_RATE, format="WAV")
    return load_audio(buf.getvalue()), [(p, s + pad_s, e + pad_s) for p, s, e in phones]
