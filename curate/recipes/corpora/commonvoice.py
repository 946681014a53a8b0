"""Mozilla Common Voice: crowd-sourced read speech, one folder per locale.

Layout of a release (``cv-corpus-<version>-<date>/``)::

    <locale>/{train,dev,test,validated,other,invalidated}.tsv
    <locale>/clip_durations.tsv, reported.tsv, ...   (not read)
    <locale>/clips/<clip>.mp3

The clip TSVs are tab-separated with a header; their sentences may start with ``"``,
so they are read with quoting off. Recent releases have 13 columns (``client_id path
sentence_id sentence sentence_domain up_votes down_votes age gender accents variant
locale segment``), older ones ~10 (``client_id path sentence up_votes down_votes age
gender accent(s) locale segment``): columns are taken by name.

One row per clip: ``subset`` is the first file listing it in the order train, dev,
test, validated, other, invalidated (train/dev/test are drawn from validated; a clip
only in validated.tsv gets ``validated``). Clips in no TSV are not read.

The locale comes from the folder name (ROOT itself when it holds the TSVs, else each
sub-folder that does), and it names the clips (``pl/common_voice_pl_000001``). A folder
whose name is not a Common Voice locale (``en``, ``zh-CN``, ``sv-SE``, ``rm-sursilv``:
a language subtag :mod:`curate.recipes.languages` maps, optionally ``-`` and a region
or variant) is an error, so ids never carry a renamed folder's name.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from curate.errors import CurateError
from curate.recipes.corpora._genuine import bonafide, concat, normalise_gender, split_tables
from curate.recipes.corpora._common import layout_error
from curate.recipes.languages import to_iso639_3
from curate.recipes.readers import read_table

# Clip lists in priority order: a clip's subset is the first file that lists it.
SPLITS = ("train", "dev", "test", "validated", "other", "invalidated")
COLUMNS = ("utt_id", "subset", "path", "speaker", "gender", "language", "transcript")
# A Common Voice locale: a 2-3 letter language subtag, then at most one region or
# variant subtag joined by '-' (pl, kab, zh-CN, sv-SE, nan-tw, rm-sursilv).
_LOCALE_RE = re.compile(r"^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})?$")


def is_locale(name: str) -> bool:
    """Whether ``name`` is shaped like a Common Voice locale whose language
    :func:`curate.recipes.languages.to_iso639_3` maps."""
    return bool(_LOCALE_RE.match(name)) and to_iso639_3(name, strict=True) is not None


def _check_locale(locale: str, prefix: str, tsv: Path) -> None:
    """Raise when the folder a clip list sits in is not named by a locale."""
    if is_locale(locale):
        return
    where = "ROOT folder" if not prefix else "folder in ROOT"
    raise CurateError(f"{tsv.parent}: {where} {locale!r} is not a locale folder (Common "
                      f"Voice names them by locale: en, pl, zh-CN, sv-SE, ...); point ROOT "
                      f"at the release or a locale folder")


def _read_split(tsv: Path, split: str, locale: str, prefix: str) -> pd.DataFrame:
    table = read_table(tsv, delimiter="\t", quoting=False)
    if "path" not in table.columns:
        raise CurateError(f"{tsv}: no 'path' column (found {', '.join(table.columns)}); "
                          f"expected a Common Voice clip list with a header line")
    clip = table["path"].str.strip()
    if (clip == "").any():
        first = clip.index[clip == ""][0]
        raise CurateError(f"{tsv}: {int((clip == '').sum())} row(s) have an empty path "
                          f"(the first is data row {first + 1}); the file is damaged")
    clip = clip.where(clip.str.contains(".", regex=False), clip + ".mp3")
    empty = pd.Series(pd.NA, index=table.index, dtype="string")
    speaker = table["client_id"].str.strip() if "client_id" in table else empty
    return pd.DataFrame({
        "utt_id": locale + "/" + clip.str.replace(r"\.[A-Za-z0-9]+$", "", regex=True),
        "subset": split,
        "path": prefix + "clips/" + clip,
        "speaker": speaker.where(speaker != ""),
        "gender": normalise_gender(table["gender"]) if "gender" in table else empty,
        "language": locale,  # checked by _check_locale; the engine maps it
        "transcript": table["sentence"] if "sentence" in table else empty,
    })


def read(root: Path, options: dict, recipe) -> pd.DataFrame:
    """One row per clip listed in any clip TSV of any locale under ROOT."""
    root = Path(root)
    parts = []
    for locale, split, tsv, prefix in split_tables(root, SPLITS):
        _check_locale(locale, prefix, tsv)
        parts.append(_read_split(tsv, split, locale, prefix))
    if not parts:
        raise layout_error(recipe, root, "no <locale>/{train,dev,test,validated,other,"
                                         "invalidated}.tsv")
    rows = concat(parts, COLUMNS)
    rows = rows.drop_duplicates("utt_id", keep="first")  # priority order of SPLITS
    return bonafide(rows)
