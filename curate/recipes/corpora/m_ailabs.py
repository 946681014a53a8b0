"""M-AILABS Speech Dataset: audiobook speech in nine locales.

Layout (per locale, as unpacked from ``<locale>.tgz``)::

    de_DE/by_book/female/<speaker>/<book>/metadata.csv
    de_DE/by_book/female/<speaker>/<book>/wavs/<file_id>.wav
    de_DE/by_book/male/<speaker>/<book>/...
    de_DE/by_book/mix/<book>/...                 (several readers: no speaker)

``metadata.csv`` is pipe-delimited without header or quoting:
``file_id|text|normalised text`` (ids without ``.wav``). Each book also has
``metadata_mls.json``, ``{"<file_id>.wav": {"original": ..., "clean": ...}}`` (ids with
``.wav``, in no particular order): it is read where a book has no ``metadata.csv``, and
gives the same ids and texts. ROOT is the folder holding the locale folders or
one locale folder; either way ``utt_id`` is the path relative to the folder holding
the locale folders, without extension (``de_DE/by_book/female/eva_k/grune_haus/wavs/
grune_haus_01_f000001``), so the ids do not depend on which ROOT was given (the MLAAD
recipe links its sources to these ids).
"""

from __future__ import annotations

from pathlib import Path

import json

import pandas as pd

from curate.errors import CurateError
from curate.recipes.corpora._genuine import bonafide, concat, unit_folders
from curate.recipes.corpora._common import layout_error
from curate.recipes.readers import read_table

COLUMNS = ("utt_id", "path", "speaker", "gender", "language", "transcript")
# gender folder -> glob of the book folders under it
BOOK_GLOBS = (("female", "female/*/*"), ("male", "male/*/*"), ("mix", "mix/*"))
METADATA = ("metadata.csv", "metadata_mls.json")


def read_json(path: Path) -> pd.DataFrame:
    """``metadata_mls.json`` as the columns of ``metadata.csv`` (file_id, text, normalised)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CurateError(f"{path}: not a JSON object of utterances ({exc}); the file is "
                          f"damaged, or remove it and keep the book's metadata.csv") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise CurateError(f"{path}: expected {{\"FILE.wav\": {{\"original\": ..., "
                          f"\"clean\": ...}}}}; the file is not M-AILABS metadata")
    names = sorted(data)
    return pd.DataFrame({
        "file_id": names,
        "text": [str(data[n].get("original") or "") for n in names],
        "normalised": [str(data[n].get("clean") or "") for n in names],
    }, dtype="string")


def _read_book(meta: Path, locale_dir: Path, locale: str, prefix: str,
               gender_dir: str) -> pd.DataFrame:
    if meta.suffix == ".json":
        table = read_json(meta)
    else:
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
            for book in sorted((folder / "by_book").glob(pattern)):
                meta = next((book / n for n in METADATA if (book / n).is_file()), None)
                if meta is not None:
                    parts.append(_read_book(meta, folder, locale, prefix, gender_dir))
    if not parts:
        raise layout_error(recipe, root, "no <locale>/by_book/<female|male|mix>/.../"
                                         "metadata.csv (or metadata_mls.json)")
    return bonafide(concat(parts, COLUMNS))
