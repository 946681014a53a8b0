"""DSD (Deepfake Speech Dataset, 2024): Korean, English and Japanese genuine and TTS / VC speech.

Layout (ROOT is the folder holding the audio and the protocol from Zenodo 13788455)::

    DSD_corpus_v1.csv
    <file>.wav                 (every file directly in ROOT)

``DSD_corpus_v1.csv`` is comma-separated with a header: ``Utterence name (file name),
TTS or VC,Is multi-speaker?,Language,Noise type 1,Source link,utt,group,Speaker name,
Gender,Age,label,Model,subset,duration`` (``09MKIS0040_12815.wav,-,No,Korean,-,-,
09MKIS0040_12815,AIHUB,09MKIS0040,Male,Adult,bonafide,-,train,6.25``); columns are
taken by name, ``-`` means none.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from curate.errors import CurateError
from curate.recipes.corpora._common import layout_error
from curate.recipes.corpora._genuine import normalise_gender
from curate.recipes.corpora._spoof import check_words, finish
from curate.recipes.readers import read_table

PROTOCOL = "DSD_corpus_v1.csv"
FILE = "Utterence name (file name)"  # sic, as the header spells it
REQUIRED = (FILE, "TTS or VC", "Language", "group", "Speaker name", "Gender", "label",
            "Model", "subset")
ARTIFACTS = {"TTS": "tts", "VC": "vc"}


def _none(values: pd.Series) -> pd.Series:
    text = values.str.strip()
    return text.where(~text.isin(("", "-")))


def read(root: Path, options: dict, recipe) -> pd.DataFrame:
    """Rows of DSD_corpus_v1.csv; audio ROOT/<file>."""
    root = Path(root)
    path = root / PROTOCOL
    if not path.is_file():
        raise layout_error(recipe, root, f"no {PROTOCOL}")
    table = read_table(path, delimiter=",", header=True)
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise CurateError(f"{path}: the header lacks column(s) {', '.join(map(repr, missing))}; "
                          f"found {', '.join(map(repr, table.columns))}")
    table["_line"] = range(2, len(table) + 2)
    table["label"] = table["label"].str.strip()
    check_words(table, "label", ("bonafide", "spoof"), path, "label")
    spoof = table["label"] == "spoof"
    name = table[FILE].str.strip()
    kind = _none(table["TTS or VC"]).map(ARTIFACTS)
    return finish(pd.DataFrame({
        "utt_id": name.str.replace(r"\.[A-Za-z0-9]+$", "", regex=True),
        "subset": _none(table["subset"]),
        "path": name,
        "label": table["label"],
        "label_raw": table["label"],
        "artifact": kind.fillna("unknown").where(spoof),
        "generator": _none(table["Model"]).where(spoof),
        "language": table["Language"].str.strip(),
        "speaker": _none(table["Speaker name"]),
        "gender": normalise_gender(_none(table["Gender"]).fillna("")),
        "source_corpus": _none(table["group"]).str.lower().where(~spoof),
    }))
