"""The speech helper processes: parallel recognition, alignment off the sidecar's thread, no import cycle."""

from __future__ import annotations

import ast
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from server.audio import SAMPLE_RATE
from server.corpus.engines import Espeak, Voice
from server.speech import alignment, recognise as recognition
from server.speech.pool import POOL
from server.speech.transcript import align_in_helper

ROOT = Path(__file__).resolve().parent.parent
SENTENCES = ("Bob bought a map of the big pub by the lamp.", "My mother made plum jam in the summer.",
             "Please pass the butter and the bread, Pam.", "The boy played baseball by the bay.")
SPEECH_MODULES = ("protocol", "pool", "helper", "recognise", "alignment", "transcript")


@pytest.fixture(scope="module")
def clip():
    """About 12 s of espeak-ng speech: four different sentences with pauses between them."""
    gap = np.zeros(int(0.6 * SAMPLE_RATE), np.float32)
    pieces = []
    for k, text in enumerate(SENTENCES):
        audio, _ = Espeak.get().synth(text, Voice("espeak", "en-us", rate=0.9 + 0.05 * k))
        pieces += [audio.astype(np.float32), gap]
    return np.concatenate(pieces)


def test_parallel_decode_gives_the_sequential_words_and_phones(clip, monkeypatch):
    # Segments of at most 4 s: the clip decodes as several segments, several at once.
    bounds = recognition.segment_bounds
    monkeypatch.setattr(recognition, "segment_bounds", lambda samples: bounds(samples, 4.0))
    assert len(recognition.segment_bounds(clip)) >= 3
    monkeypatch.setenv("MOUTHPIECE_SPEECH_PROCESSES", "1")
    sequential = recognition.recognise(clip)
    monkeypatch.setenv("MOUTHPIECE_SPEECH_PROCESSES", "3")
    fractions = []
    parallel = recognition.recognise(clip, progress=fractions.append)
    assert len(POOL.helpers()) >= 2, "the segments were not spread over helper processes"
    assert sequential.words, "nothing recognised"
    assert parallel.words == sequential.words and parallel.phones == sequential.phones
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    again = recognition.recognise(clip[::-1].copy())        # other audio through the same helpers ...
    assert again.phones != parallel.phones
    third = recognition.recognise(clip)                      # ... changes nothing for this clip
    assert third.words == sequential.words and third.phones == sequential.phones


def test_alignment_runs_in_a_helper_and_never_blocks_this_process(clip):
    text = " ".join(SENTENCES)
    ticks, stop = [], threading.Event()

    def heartbeat():
        while not stop.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.01)

    decoders_before = dict(alignment._DECODERS)
    thread = threading.Thread(target=heartbeat)
    thread.start()
    started = time.perf_counter()
    try:
        found = align_in_helper(clip, text)
    finally:
        elapsed = time.perf_counter() - started
        stop.set()
        thread.join()
    assert [w for w, _, _ in found.words][:3] == ["bob", "bought", "a"]
    assert any(p == "B" for p, _, _ in found.phones)
    assert alignment._DECODERS == decoders_before, "pocketsphinx was loaded in this process"
    gaps = np.diff(ticks)
    # In this process the heartbeat would stop for the whole alignment (pocketsphinx holds the GIL).
    assert elapsed > 0.3 and gaps.max() < 0.25, (elapsed, gaps.max())


def test_an_alignment_error_in_the_helper_is_an_alignment_error_here(clip):
    with pytest.raises(alignment.AlignmentError):
        align_in_helper(clip, "zzxqv")


@pytest.mark.parametrize("name", SPEECH_MODULES)
def test_each_speech_module_imports_alone(name):
    subprocess.run([sys.executable, "-c", f"import server.speech.{name}"], cwd=ROOT, check=True, timeout=60)


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at any level (lazy imports inside functions included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def test_no_speech_module_imports_the_helper_and_the_helper_alone_imports_recognition():
    speech = ROOT / "server" / "speech"
    for name in SPEECH_MODULES:
        if name != "helper":
            assert "server.speech.helper" not in _imports(speech / f"{name}.py"), name
    for name in ("protocol", "pool"):
        imports = _imports(speech / f"{name}.py")
        assert not {"server.speech.recognise", "server.speech.alignment", "server.speech.transcript"} & imports, name
