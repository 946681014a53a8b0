"""VoxCeleb1: celebrity speech from YouTube interviews (1,251 speakers, 16 kHz wav).

Layouts (ROOT is the folder holding them)::

    wav/<id>/<video>/<segment>.wav                        dev and test merged
    vox1_dev_wav/wav/<id>/<video>/<segment>.wav           the two archives apart
    vox1_test_wav/wav/<id>/<video>/<segment>.wav
    vox1_meta.csv     VoxCeleb1 ID, VGGFace1 ID, Gender, Nationality, Set

The official ``vox1_meta.csv`` is tab-separated (CRLF line ends; some copies quote
fields holding tabs); copies re-formatted with commas exist too: the delimiter is
taken from the header line, the columns by position. There is no utterance list:
every wav is a row.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from curate.errors import CurateError
from curate.recipes.corpora._genuine import bonafide, list_audio, normalise_gender
from curate.recipes.corpora._common import layout_error
from curate.recipes.readers import read_table

# audio folder under ROOT, the subset its archive holds (None: both)
AUDIO_DIRS = (("wav", None), ("vox1_dev_wav/wav", "dev"), ("vox1_test_wav/wav", "test"))
META = "vox1_meta.csv"


def read_meta(path: Path, columns: list[str]) -> pd.DataFrame:
    """A VoxCeleb meta file: tab- or comma-separated, padded fields stripped.

    ``columns`` names the fields by position (the header's names vary between
    copies); rows with another number of fields are reported as ``file:line``.
    """
    with path.open(encoding="utf-8-sig", errors="replace") as handle:
        first = handle.readline()
    delimiter = "\t" if "\t" in first else ","
    table = read_table(path, delimiter=delimiter, header=True)
    if len(table.columns) != len(columns):
        raise CurateError(f"{path}:1: expected {len(columns)} columns "
                          f"({', '.join(columns)}), found {len(table.columns)}: "
                          f"{first.strip()[:80]!r}")
    table.columns = columns
    return table.apply(lambda col: col.str.strip())


def speakers(root: Path, meta_name: str, columns: list[str]) -> pd.DataFrame:
    """Per speaker: gender (male/female) and subset (dev/test) from the meta file."""
    path = root / meta_name
    if not path.is_file():
        return pd.DataFrame({"gender": [], "set": []}, dtype="string")
    table = read_meta(path, columns)
    table["gender"] = normalise_gender(table["gender"])
    table["set"] = table["set"].str.lower().where(table["set"] != "")
    return table.drop_duplicates("id").set_index("id")[["gender", "set"]]


def audio_rows(root: Path, audio_dirs, extensions: tuple[str, ...],
               meta: pd.DataFrame) -> pd.DataFrame:
    """One row per ``<id>/<video>/<segment>`` file under each audio folder."""
    rows = []
    for folder, subset in audio_dirs:
        for rel in list_audio(root / folder, extensions, depth=2):
            speaker = rel.split("/", 1)[0]
            rows.append({"utt_id": os.path.splitext(rel)[0], "path": f"{folder}/{rel}",
                         "speaker": speaker, "folder_subset": subset})
    frame = pd.DataFrame(rows, columns=["utt_id", "path", "speaker", "folder_subset"])
    frame["gender"] = frame["speaker"].map(meta["gender"]).astype("string")
    frame["subset"] = frame["speaker"].map(meta["set"]).astype("string").fillna(
        frame["folder_subset"].astype("string"))
    frame["language"] = "und"
    return frame.drop(columns="folder_subset")


def read(root: Path, options: dict, recipe) -> pd.DataFrame:
    """Rows of every wav; gender and subset from vox1_meta.csv where it lists the speaker."""
    root = Path(root)
    meta = speakers(root, META, ["id", "name", "gender", "nationality", "set"])
    rows = audio_rows(root, AUDIO_DIRS, ("wav",), meta)
    if not len(rows):
        raise layout_error(recipe, root, "no wav/<id>/<video>/*.wav (nor vox1_dev_wav/wav/ "
                                         "or vox1_test_wav/wav/)")
    dup = rows["utt_id"].duplicated(keep=False)
    if dup.any():  # the merged wav/ folder and an archive folder side by side
        raise CurateError(f"{recipe.source}: {int(dup.sum())} files appear under two audio "
                          f"folders (e.g. {rows.loc[dup, 'path'].iloc[0]}); keep either wav/ "
                          f"or vox1_dev_wav/ + vox1_test_wav/ under {root}")
    return bonafide(rows)
