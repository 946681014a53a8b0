"""LibriSpeech: read English audiobooks (LibriVox), 16 kHz flac.

Layout (the ``LibriSpeech/`` folder the archives unpack into)::

    SPEAKERS.TXT            ; comments, then ID | SEX | SUBSET | MINUTES | NAME
    <subset>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt   UTT TEXT (split at 1st space)
    <subset>/<speaker>/<chapter>/<speaker>-<chapter>-<segment>.flac

``<subset>`` is train-clean-100, train-clean-360, train-other-500, dev-clean,
dev-other, test-clean, test-other. ROOT may also be one subset folder.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from curate.recipes.corpora._genuine import bonafide, concat, normalise_gender, unit_folders
from curate.recipes.corpora._common import layout_error
from curate.recipes.readers import read_table

COLUMNS = ("utt_id", "subset", "path", "speaker", "gender", "language", "transcript")


def _is_subset(folder: Path) -> bool:
    return next(folder.glob("*/*/*.trans.txt"), None) is not None


def speaker_genders(path: Path) -> dict[str, str]:
    """``SPEAKERS.TXT`` (LibriSpeech) -> {speaker: male|female}.

    ``;`` starts a comment; fields are ``|``-separated and padded; the name (last
    field) may itself hold ``|`` (speaker 60 is ``|CBW|Simon``).
    """
    table = read_table(path, delimiter="|", header=False, quoting=False, comment=";",
                       names=["speaker", "sex", "subset", "minutes", "name"],
                       min_fields=2, extra="merge")
    speaker = table["speaker"].str.strip()
    known = pd.DataFrame({"speaker": speaker, "gender": normalise_gender(table["sex"])})
    return dict(known.dropna().drop_duplicates("speaker").itertuples(index=False, name=None))


def read(root: Path, options: dict, recipe) -> pd.DataFrame:
    """Rows of every ``*.trans.txt`` (flac not listed in one is not read)."""
    root = Path(root)
    genders: dict[str, str] = {}
    for candidate in (root / "SPEAKERS.TXT", root.parent / "SPEAKERS.TXT"):
        if candidate.is_file():
            genders = speaker_genders(candidate)
            break
    parts = []
    for subset, folder, prefix in unit_folders(root, _is_subset):
        for trans in sorted(folder.glob("*/*/*.trans.txt")):
            table = read_table(trans, delimiter=" ", header=False, quoting=False,
                               names=["utt", "text"], extra="merge")
            chapter_dir = prefix + trans.parent.relative_to(folder).as_posix() + "/"
            utt = table["utt"].str.strip()
            speaker = utt.str.split("-", n=1).str[0]
            parts.append(pd.DataFrame({
                "utt_id": utt,
                "subset": subset,
                "path": chapter_dir + utt + ".flac",
                "speaker": speaker,
                "gender": speaker.map(genders),
                "language": "eng",
                "transcript": table["text"].str.strip(),
            }))
    if not parts:
        raise layout_error(recipe, root, "no <subset>/<speaker>/<chapter>/*.trans.txt")
    return bonafide(concat(parts, COLUMNS))
