"""Shared pieces of the genuine-speech corpus recipes.

Every genuine corpus gives ``label = label_raw = 'bonafide'`` and no artifact or
generator; genders are normalised to ``male`` / ``female`` (other stated values are
kept, lowercased; empty or withheld ones become null). The helpers here list audio
files, read whitespace-aligned tables with ``file:line`` errors and find the
per-language (per-locale) folders of corpora that ship one folder per language.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable

import pandas as pd

from curate.catalog.columns import RECIPE_COLUMNS

_GENDERS = {
    "m": "male", "male": "male", "male_masculine": "male", "man": "male",
    "f": "female", "female": "female", "female_feminine": "female", "woman": "female",
}
_NO_GENDER = {"", "-", "nan", "none", "null", "unknown", "n/a", "do_not_wish_to_say"}


def normalise_gender(values: pd.Series) -> pd.Series:
    """``m``/``male``/``male_masculine`` -> ``male`` (same for female); empty -> null.

    Other stated values (Common Voice ``intersex``, ``non-binary``, FLEURS ``other``
    ...) are kept, lowercased, so nothing the corpus says is lost.
    """
    text = values.astype("string").str.strip().str.lower()
    mapped = text.map(_GENDERS)
    kept = text.where(~text.isin(_NO_GENDER))
    return mapped.fillna(kept).astype("string")


def bonafide(frame: pd.DataFrame) -> pd.DataFrame:
    """Label every row genuine and return the manifest columns in order, sorted by id."""
    frame = frame.copy()
    frame["label"] = "bonafide"
    frame["label_raw"] = "bonafide"
    frame["artifact"] = None
    frame["generator"] = None
    keep = [c for c in RECIPE_COLUMNS if c in frame.columns]
    return frame[keep].sort_values("utt_id", kind="stable").reset_index(drop=True)


def concat(parts: list[pd.DataFrame], columns: Iterable[str]) -> pd.DataFrame:
    """Concatenate row frames (an empty frame with ``columns`` when there are none)."""
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=list(columns))
    return pd.concat(parts, ignore_index=True)


def list_audio(folder: Path, extensions: tuple[str, ...], depth: int | None = None
               ) -> list[str]:
    """Paths (relative to ``folder``, sorted) of files with one of ``extensions``.

    ``depth``: only files exactly that many folders below ``folder`` (None: any).
    """
    found = []
    if not folder.is_dir():
        return found
    suffixes = tuple("." + e.lower().lstrip(".") for e in extensions)
    for dirpath, dirs, files in os.walk(folder):
        rel_dir = os.path.relpath(dirpath, folder)
        level = 0 if rel_dir == "." else rel_dir.count(os.sep) + 1
        if depth is not None:
            if level >= depth:
                dirs[:] = []  # nothing deeper
            if level != depth:
                continue
        for name in files:
            if name.lower().endswith(suffixes):
                found.append(name if rel_dir == "." else f"{rel_dir}/{name}")
    return sorted(found)


def unit_folders(root: Path, is_unit: Callable[[Path], bool]) -> list[tuple[str, Path, str]]:
    """Per-language folders of a corpus: ROOT itself, or its sub-folders.

    Returns ``(name, folder, prefix)`` triples: ``prefix`` is the folder's path
    relative to ROOT with a trailing slash ("" when ROOT is the folder itself).
    """
    if is_unit(root):
        return [(root.name, root, "")]
    return [(p.name, p, p.name + "/") for p in sorted(root.iterdir())
            if p.is_dir() and is_unit(p)]


def split_tables(root: Path, splits: Iterable[str]) -> list[tuple[str, str, Path, str]]:
    """``(locale, split, SPLIT.tsv, prefix)`` of every split table of every locale folder
    (ROOT itself, or its sub-folders holding at least one ``SPLIT.tsv``), in split order."""
    splits = tuple(splits)
    units = unit_folders(root, lambda f: any((f / f"{s}.tsv").is_file() for s in splits))
    return [(locale, split, folder / f"{split}.tsv", prefix)
            for locale, folder, prefix in units for split in splits
            if (folder / f"{split}.tsv").is_file()]
