"""Deepfake-Eval-2024 (audio part): in-the-wild deepfakes collected in 2024.

Layout (ROOT is the unpacked dataset folder; the video and image parts are not read)::

    audio-metadata-publish.csv     (or metadata.csv)
    audio-data/<Filename>          mp3, m4a, mp4, wav ... as collected

The metadata is comma-separated with a header; the recipe needs the columns
``Filename``, ``Ground Truth`` (Real / Fake) and ``Finetuning Set`` (Train / Test),
matched by name regardless of case. A ``Language`` column, where a copy has one,
fills ``language``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from curate.errors import CurateError
from curate.recipes.corpora._spoof import finish
from curate.recipes.corpora._common import layout_error, line_of
from curate.recipes.languages import to_iso639_3
from curate.recipes.readers import read_table

METADATA = ("audio-metadata-publish.csv", "metadata.csv")
REQUIRED = ("filename", "ground truth", "finetuning set")
LABELS = {"real": "bonafide", "fake": "spoof"}


def find_metadata(root: Path, recipe) -> Path:
    for name in METADATA:
        if (root / name).is_file():
            return root / name
    others = sorted(p for p in root.glob("*metadata*.csv") if p.is_file())
    if len(others) == 1:
        return others[0]
    raise layout_error(recipe, root, "no audio-metadata-publish.csv (or metadata.csv)")


def read(root: Path, options: dict, recipe) -> pd.DataFrame:
    root = Path(root)
    meta = find_metadata(root, recipe)
    table = read_table(meta, delimiter=",", header=True, quoting=True)
    columns = {c.strip().lower(): c for c in table.columns}
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise CurateError(f"{meta}: the header lacks column(s) "
                          f"{', '.join(repr(m.title()) for m in missing)}; found "
                          f"{', '.join(map(repr, table.columns))}")
    filename = table[columns["filename"]].str.strip()
    truth = table[columns["ground truth"]].str.strip()
    label = truth.str.lower().map(LABELS)
    if label.isna().any():
        first = int(label.index[label.isna()][0])
        line = line_of(meta, filename.iloc[first]) if filename.iloc[first] else None
        where = f"{meta}:{line}" if line else f"{meta} (data row {first + 1})"
        raise CurateError(
            f"{where}: Ground Truth {truth.iloc[first]!r} of {filename.iloc[first]!r} is "
            f"not Real or Fake; every row needs one of them")
    subset = table[columns["finetuning set"]].str.strip().str.lower()
    audio = "audio-data/" if (root / "audio-data").is_dir() else ""
    language = "und"
    if "language" in columns:
        language = table[columns["language"]].map(lambda v: to_iso639_3(v))
    return finish(pd.DataFrame({
        "utt_id": filename,
        "subset": subset.where(subset != ""),
        "path": audio + filename,
        "label": label,
        "label_raw": truth,
        "artifact": pd.Series("unknown", index=table.index).where(label == "spoof"),
        "language": language,
    }))
