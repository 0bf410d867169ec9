"""A folder of real speech recordings and their transcripts, for the real-speech evaluation.

Transcripts come from, in this order:
1. ``--transcripts PATH``: a TSV file or a README in markdown (see below);
2. ``<name>.txt`` beside ``<name>.wav``;
3. ``transcripts.tsv`` in the folder.

TSV: one line per file, ``file<TAB>transcript[<TAB>note]``; ``file`` with or without ``.wav``;
``#`` starts a comment line; a transcript of ``-`` skips the file (the note says why);
alternatives separated by ``||`` mean "one of these" (the aligner keeps the best-scoring one).

README (markdown): every table row whose first cell names a ``.wav`` file, or a glob such as
``emotalk_*.wav``, and whose last cell holds the transcript. A leading ``(known)`` is
dropped; a cell that is only a remark in parentheses skips the file with that remark. In a
glob row, the sentences in double quotes become the alternatives, and a file whose
distinctive name part (what ``*`` matched) is named in one of the cell's ``;``-separated
clauses is skipped with that clause as the reason ("ted1/ted2 are talks").
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path


@dataclass
class SpeechItem:
    name: str
    wav: Path
    transcript: str | None       # None: skipped (see note)
    note: str = ""


def _parse_tsv(path: Path) -> dict[str, tuple[str | None, str]]:
    rows: dict[str, tuple[str | None, str]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cells = line.split("\t")
        if len(cells) < 2:
            raise ValueError(f"{path}:{number}: expected 'file<TAB>transcript[<TAB>note]', got {line!r}")
        name = Path(cells[0].strip()).stem
        transcript = cells[1].strip()
        note = cells[2].strip() if len(cells) > 2 else ""
        rows[name] = (None if transcript in ("", "-") else transcript, note)
    return rows


def _readme_cells(path: Path):
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.lstrip().startswith("|"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and re.fullmatch(r"[\w.*\-]+\.wav", cells[0]):
            yield cells[0], cells[-1]


def _parse_readme(path: Path, wav_names: list[str]) -> dict[str, tuple[str | None, str]]:
    rows: dict[str, tuple[str | None, str]] = {}
    for pattern, cell in _readme_cells(path):
        text = re.sub(r"^\(known\)\s*", "", cell)
        remark = re.fullmatch(r"\((.*)\)", text)
        if "*" not in pattern:
            name = Path(pattern).stem
            rows[name] = (None, remark.group(1)) if remark else (text, "known" if cell.startswith("(known)") else "")
            continue
        quoted = re.findall(r'"([^"]+)"', text)
        clauses = [c.strip() for c in text.split(";")]
        prefix, suffix = pattern.split("*", 1)
        for wav in wav_names:
            if not fnmatch.fnmatch(wav, pattern):
                continue
            part = wav[len(prefix):len(wav) - len(suffix)]
            naming = [c for c in clauses if re.search(rf"\b{re.escape(part)}\b", c)]
            name = Path(wav).stem
            if naming:
                rows[name] = (None, naming[0])
            elif quoted:
                rows[name] = (" || ".join(quoted), "one of the quoted sentences, chosen by alignment score")
            else:
                rows[name] = (None, "no transcript in the README")
    return rows


def speech_items(folder: str | Path, transcripts: str | Path | None = None) -> list[SpeechItem]:
    """Every ``.wav`` in ``folder`` (sorted) with its transcript, or None and why it is skipped."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"--real {folder}: not a folder of .wav files")
    wavs = sorted(folder.glob("*.wav"))
    if not wavs:
        raise FileNotFoundError(f"--real {folder}: no .wav files in it")
    table: dict[str, tuple[str | None, str]] = {}
    if transcripts is not None:
        source = Path(transcripts)
        if not source.is_file():
            raise FileNotFoundError(f"--transcripts {source}: no such file (a .tsv or a README .md)")
        table = (_parse_readme(source, [w.name for w in wavs]) if source.suffix.lower() == ".md"
                 else _parse_tsv(source))
    elif (folder / "transcripts.tsv").is_file():
        table = _parse_tsv(folder / "transcripts.tsv")
    items = []
    for wav in wavs:
        beside = wav.with_suffix(".txt")
        if transcripts is None and beside.is_file():
            text, note = beside.read_text(encoding="utf-8").strip() or None, ""
        elif wav.stem in table:
            text, note = table[wav.stem]
        else:
            text, note = None, "no transcript"
        items.append(SpeechItem(wav.stem, wav, text, note))
    return items
