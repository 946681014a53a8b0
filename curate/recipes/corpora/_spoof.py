"""Shared pieces of the recipes of spoofing / deepfake corpora.

Whitespace-separated protocol files (ASVspoof keys, Codecfake label files, RTTM
segment files) are read with :func:`read_fields`, which tolerates repeated and
trailing blanks and reports a short line as ``file:line``; comma- and pipe-separated
metadata goes through :func:`curate.recipes.readers.read_table`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

import pandas as pd

from curate.catalog.columns import RECIPE_COLUMNS
from curate.errors import CurateError

# System types of the ASVspoof 2019 LA attacks (evaluation plan; A16 = A04, A19 = A06).
# ASVspoof 2021 LA and DF reuse A07-A19 for their ASVspoof-sourced trials.
ASVSPOOF2019_KINDS: dict[str, str] = {
    "A01": "tts", "A02": "tts", "A03": "tts", "A04": "tts", "A05": "vc", "A06": "vc",
    "A07": "tts", "A08": "tts", "A09": "tts", "A10": "tts", "A11": "tts", "A12": "tts",
    "A13": "vc", "A14": "vc", "A15": "vc", "A16": "tts", "A17": "vc", "A18": "vc",
    "A19": "vc",
}


def fields_frame(lines: list[tuple[int, list[str]]], names: Iterable[str]) -> pd.DataFrame:
    """``read_fields`` output as a string DataFrame (missing trailing fields are "")."""
    names = list(names)
    width = len(names)
    rows = [(fields + [""] * width)[:width] for _n, fields in lines]
    frame = pd.DataFrame(rows, columns=names, dtype="string")
    frame["_line"] = [n for n, _f in lines]
    return frame


def check_words(frame: pd.DataFrame, column: str, allowed: Iterable[str], path: Path,
                what: str) -> None:
    """Raise ``file:line`` for the first row whose ``column`` is not an allowed word.

    ``frame`` needs a ``_line`` column (from :func:`fields_frame`) or is searched by
    position (header line + index) otherwise.
    """
    allowed = set(allowed)
    bad = ~frame[column].isin(allowed)
    if not bad.any():
        return
    first = frame.index[bad.to_numpy()][0]
    line = int(frame.at[first, "_line"]) if "_line" in frame.columns else None
    where = f"{path}:{line}" if line else str(path)
    values = sorted(set(frame.loc[bad, column].fillna("<empty>").astype(str)))[:5]
    raise CurateError(f"{where}: {what} {frame.at[first, column]!r} is not one of "
                      f"{', '.join(sorted(allowed))} (found {', '.join(map(repr, values))}); "
                      f"check that this is the corpus's own file")


def finish(frame: pd.DataFrame) -> pd.DataFrame:
    """The manifest columns in contract order, sorted by utt_id."""
    keep = [c for c in RECIPE_COLUMNS if c in frame.columns]
    return frame[keep].sort_values("utt_id", kind="stable").reset_index(drop=True)


def files_in(folder: Path) -> list[str]:
    """Names of the regular files directly in ``folder`` (fast for 100k+ entries)."""
    try:
        with os.scandir(folder) as entries:
            return [e.name for e in entries if e.is_file()]
    except OSError:
        return []


def find_named(root: Path, name: str, *, prune: Iterable[str] = ("flac", "wav")
               ) -> list[Path]:
    """Files called ``name`` anywhere under ``root``, not descending into big audio
    folders (``prune``), sorted."""
    pruned = set(prune)
    found = []
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in pruned)
        if name in files:
            found.append(Path(dirpath) / name)
    return sorted(found)


