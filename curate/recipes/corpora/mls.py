"""Multilingual LibriSpeech (MLS): LibriVox audiobooks in eight languages.

Layout of one language (``mls_<language>/`` or ``mls_<language>_opus/``)::

    metainfo.txt        SPEAKER | GENDER | PARTITION | MINUTES | BOOK ID | TITLE | CHAPTER
    train|dev|test/transcripts.txt       <speaker>_<book>_<segment><TAB>text
    train|dev|test/audio/<speaker>/<book>/<speaker>_<book>_<segment>.flac|.opus

ROOT is one ``mls_<language>`` folder or the folder holding several. The language
comes from the folder name; a copy under another name takes ``[options] language``
(a recipe with ``base = "mls"``). ``metainfo.txt`` is pipe-separated with padded
fields; it gives each speaker's gender.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from curate.errors import CurateError
from curate.recipes.corpora._genuine import bonafide, concat, normalise_gender, unit_folders
from curate.recipes.corpora._common import layout_error, line_of
from curate.recipes.languages import to_iso639_3
from curate.recipes.readers import read_table

SUBSETS = ("train", "dev", "test")
COLUMNS = ("utt_id", "subset", "path", "speaker", "gender", "language", "transcript")
_FOLDER_RE = re.compile(r"^mls_([a-z]+?)(?:_opus)?$", re.IGNORECASE)
OPTIONS = {"language", "extension"}
_UTT_RE = r"^(\d+)_(\d+)_(\d+)$"


def _is_language(folder: Path) -> bool:
    return any((folder / s / "transcripts.txt").is_file() for s in SUBSETS)


def _language(folder: Path, options: dict, recipe) -> str:
    if options.get("language"):
        code = to_iso639_3(str(options["language"]), strict=True)
        if code is None:
            raise CurateError(f"{recipe.source}: option language = {options['language']!r} "
                              f"is not a language code; use e.g. 'deu' or 'german'")
        return code
    match = _FOLDER_RE.match(folder.name)
    code = to_iso639_3(match.group(1), strict=True) if match else None
    if code is None:
        raise CurateError(
            f"{recipe.source}: cannot tell the language of {folder} from its name; keep the "
            f"folder name mls_<language> as unpacked, or write a recipe with base = \"mls\" "
            f"and [options] language = \"deu\"")
    return code


def _extension(folder: Path, subset: str, first_utt: str | None, options: dict) -> str:
    if options.get("extension"):
        return str(options["extension"]).lstrip(".")
    default = "opus" if folder.name.lower().endswith("_opus") else "flac"
    if first_utt is None:
        return default
    speaker, book, _ = first_utt.split("_")
    audio_dir = folder / subset / "audio" / speaker / book
    for ext in (default, "flac", "opus"):
        if (audio_dir / f"{first_utt}.{ext}").is_file():
            return ext
    return default


def _genders(folder: Path) -> dict[str, str]:
    meta = folder / "metainfo.txt"
    if not meta.is_file():
        return {}
    table = read_table(meta, delimiter="|", quoting=False, min_fields=2, extra="merge")
    speaker, gender = table.iloc[:, 0].str.strip(), normalise_gender(table.iloc[:, 1])
    known = pd.DataFrame({"speaker": speaker, "gender": gender}).dropna()
    return dict(known.drop_duplicates("speaker").itertuples(index=False, name=None))


def _read_language(folder: Path, prefix: str, options: dict, recipe) -> list[pd.DataFrame]:
    language = _language(folder, options, recipe)
    genders = _genders(folder)
    parts = []
    for subset in SUBSETS:
        path = folder / subset / "transcripts.txt"
        if not path.is_file():
            continue
        table = read_table(path, delimiter="\t", header=False, quoting=False,
                           names=["utt", "text"])
        utt = table["utt"].str.strip()
        fields = utt.str.extract(_UTT_RE)
        bad = fields[0].isna()
        if bad.any():
            example = utt[bad].iloc[0]
            raise CurateError(f"{path}:{line_of(path, example, prefix=True) or '?'}: utterance id "
                              f"{example!r} is not SPEAKER_BOOK_SEGMENT; the file is damaged")
        ext = _extension(folder, subset, utt.iloc[0] if len(utt) else None, options)
        speaker = fields[0]
        parts.append(pd.DataFrame({
            "utt_id": language + "/" + utt,
            "subset": subset,
            "path": (prefix + subset + "/audio/" + speaker + "/" + fields[1] + "/" + utt
                     + "." + ext),
            "speaker": speaker,
            "gender": speaker.map(genders),
            "language": language,
            "transcript": table["text"].str.strip(),
        }))
    return parts


def read(root: Path, options: dict, recipe) -> pd.DataFrame:
    """Rows of every transcripts.txt (audio not listed there is not read)."""
    unknown = sorted(set(options) - OPTIONS)
    if unknown:
        raise CurateError(f"{recipe.source}: unknown option(s) {', '.join(unknown)}; the mls "
                          f"recipe takes {', '.join(sorted(OPTIONS))}")
    root = Path(root)
    parts = []
    for _name, folder, prefix in unit_folders(root, _is_language):
        parts.extend(_read_language(folder, prefix, options, recipe))
    if not parts:
        raise layout_error(recipe, root, "no {train,dev,test}/transcripts.txt")
    return bonafide(concat(parts, COLUMNS))
