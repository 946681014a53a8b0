"""MLAAD: multi-language audio anti-spoofing dataset (TTS output only).

Layout (ROOT is the unpacked ``mlaad_v*`` folder)::

    fake/<language>/<model folder>/meta.csv
    fake/<language>/<model folder>/<file>.wav

Model folder names are model names with ``/`` replaced by ``_`` and may hold dots
(``tts_models_multilingual_multi-dataset_xtts_v1.1``). ``meta.csv`` is pipe-delimited
with a header ``path|original_file|language|is_original_language|duration|
training_data|model_name|architecture|transcript`` (some releases add columns);
columns are taken by name. Transcripts hold quote characters that are not CSV
quoting, so the file is read with quoting off (a stray ``"`` would otherwise swallow
the following lines); surplus ``|`` go back into the last column.

``path`` is ``./fake/<language>/<model folder>/<file>.wav``, but some rows name the
wrong language folder (``zh`` for ``zh-cn``): the audio path is the ``meta.csv``
folder plus the file name. ``original_file`` is the M-AILABS utterance the text was
taken from (``de_DE/by_book/female/eva_k/grune_haus/wavs/grune_haus_01_f000001.wav``);
it becomes ``source_utt`` in the m_ailabs recipe's id scheme
(``m_ailabs:<path from the locale folder, without extension>``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from curate.errors import CurateError
from curate.recipes.corpora._spoof import finish
from curate.recipes.corpora._common import layout_error
from curate.recipes.readers import read_table

REQUIRED = ("path", "original_file", "language", "model_name")
_LOCALE = re.compile(r"^[a-z]{2}_[A-Z]{2}$")  # de_DE, en_US, en_UK, uk_UK ...
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{2,4}$")


def mailabs_utt(original_file: str | None) -> str | None:
    """The m_ailabs utt_id of an MLAAD ``original_file`` (None when it names none).

    Leading ``./`` and any folders above the locale folder are dropped (some
    copies prefix the M-AILABS root), and so is the extension.
    """
    if original_file is None or pd.isna(original_file):
        return None
    parts = [p for p in str(original_file).strip().replace("\\", "/").split("/")
             if p not in ("", ".")]
    for i, part in enumerate(parts):
        if _LOCALE.match(part):
            return "m_ailabs:" + _EXTENSION.sub("", "/".join(parts[i:]))
    return None


def _read_meta(meta: Path, root: Path) -> pd.DataFrame:
    table = read_table(meta, delimiter="|", header=True, quoting=False, extra="merge")
    table.columns = [c.strip().lower() for c in table.columns]
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise CurateError(
            f"{meta}: the header lacks column(s) {', '.join(missing)}; an MLAAD meta.csv "
            f"is pipe-delimited with a header path|original_file|language|"
            f"is_original_language|duration|training_data|model_name|architecture|"
            f"transcript")
    folder = meta.parent.relative_to(root).as_posix()  # fake/de/<model folder>
    names = table["path"].str.strip().str.replace("\\", "/", regex=False).str.rsplit(
        "/", n=1).str[-1]
    stems = names.str.replace(_EXTENSION, "", regex=True)
    language = table["language"].str.strip()
    language = language.where(language != "", meta.parent.parent.name)
    model = table["model_name"].str.strip()
    model = model.where(model != "", meta.parent.name)
    originals = table["original_file"].str.strip()
    source_utt = originals.map(mailabs_utt).astype("string")
    transcript = (table["transcript"].str.strip() if "transcript" in table.columns
                  else pd.Series(pd.NA, index=table.index, dtype="string"))
    return pd.DataFrame({
        "utt_id": folder + "/" + stems,
        "path": folder + "/" + names,
        "label": "spoof",
        "label_raw": "fake",
        "artifact": "tts",
        "generator": "mlaad:" + model,
        "language": language,
        "source_corpus": "m_ailabs",
        "source_utt": source_utt,
        "transcript": transcript.where(transcript != ""),
    })


def read(root: Path, options: dict, recipe) -> pd.DataFrame:
    """Rows of every fake/<language>/<model>/meta.csv (wavs listed in none are not read)."""
    root = Path(root)
    metas = sorted(root.glob("fake/*/*/meta.csv"))
    if not metas:
        raise layout_error(recipe, root, "no fake/<language>/<model>/meta.csv")
    parts = [_read_meta(meta, root) for meta in metas]
    parts = [p for p in parts if len(p)]
    if not parts:
        raise layout_error(recipe, root, "no rows in any fake/<language>/<model>/meta.csv")
    return finish(pd.concat(parts, ignore_index=True))
