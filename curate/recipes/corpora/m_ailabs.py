"""M-AILABS Speech Dataset: audiobook speech in nine locales.

Layout (per locale, as unpacked from ``<locale>.tgz``)::

    de_DE/by_book/female/<speaker>/<book>/metadata.csv
    de_DE/by_book/female/<speaker>/<book>/wavs/<file_id>.wav
    de_DE/by_book/male/<speaker>/<book>/...
    de_DE/by_book/mix/<book>/...                 (several readers: no speaker)

``metadata.csv`` is pipe-delimited without header or quoting:
``file_id|text|normalised text``. ROOT is the folder holding the locale folders or
one locale folder; either way ``utt_id`` is the path relative to the folder holding
the locale folders, without extension (``de_DE/by_book/female/eva_k/grune_haus/wavs/
grune_haus_01_f000001``), so the ids do not depend on which ROOT was given (the MLAAD
recipe links its sources to these ids).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from curate.recipes.corpora._genuine import bonafide, concat, unit_folders
from curate.recipes.corpora._common import layout_error
from curate.recipes.readers import read_table

COLUMNS = ("utt_id", "path", "speaker", "gender", "language", "transcript")
# gender folder -> glob of the book's metadata.csv under it
BOOK_GLOBS = (("female", "female/*/*/metadata.csv"), ("male", "male/*/*/metadata.csv"),
              ("mix", "mix/*/metadata.csv"))


def _read_book(meta: Path, locale_dir: Path, locale: str, prefix: str,
               gender_dir: str) -> pd.DataFrame:
    table = read_table(meta, delimiter="|", header=False, quoting=False, min_fields=2,
                       names=["file_id", "text", "normalised"])
    book = meta.parent.relative_to(locale_dir).as_posix()  # by_book/female/eva_k/grune_haus
    stem = table["file_id"].str.strip().str.replace(r"\.wav$", "", regex=True)
    rel = book + "/wavs/" + stem
    normalised = table["normalised"].str.strip()
    return pd.DataFrame({
        "utt_id": locale + "/" + rel,
        "path": prefix + rel + ".wav",
        "speaker": book.split("/")[2] if gender_dir != "mix" else None,
        "gender": gender_dir if gender_dir != "mix" else None,
        "language": locale,
        "transcript": normalised.where(normalised != "", table["text"].str.strip()),
    })


def read(root: Path, options: dict, recipe) -> pd.DataFrame:
    """Rows of every book's metadata.csv (wavs not listed there are not read)."""
    root = Path(root)
    parts = []
    for locale, folder, prefix in unit_folders(root, lambda p: (p / "by_book").is_dir()):
        for gender_dir, pattern in BOOK_GLOBS:
            for meta in sorted((folder / "by_book").glob(pattern)):
                parts.append(_read_book(meta, folder, locale, prefix, gender_dir))
    if not parts:
        raise layout_error(recipe, root, "no <locale>/by_book/<female|male|mix>/.../"
                                         "metadata.csv")
    return bonafide(concat(parts, COLUMNS))
