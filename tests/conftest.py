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
