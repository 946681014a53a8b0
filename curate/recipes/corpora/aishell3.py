"""AISHELL-3: multi-speaker Mandarin read speech (218 speakers, 44.1 kHz wav).

Layout (the folder ``data_aishell3.tgz`` unpacks into)::

    spk-info.txt                      # comments, then SPEAKER AGE-GROUP GENDER ACCENT
                                      (the ReadMe calls it spk_info.txt: either is read)
    train/content.txt                 SSB00050001.wav<TAB>广 guang3 州 zhou1 ...
    train/wav/<speaker>/<utt>.wav
    test/content.txt, test/wav/<speaker>/<utt>.wav

``content.txt`` alternates characters and tone-numbered pinyin; the transcript
keeps the characters. Rows are the utterances listed in a ``content.txt`` plus wav
files listed in none (no transcript).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from curate.recipes.corpora._genuine import bonafide, concat, list_audio, normalise_gender
from curate.recipes.corpora._common import layout_error, read_fields
from curate.recipes.readers import read_table

SUBSETS = ("train", "test")
# The archive's name for the speaker table, then the name its ReadMe gives it.
SPEAKER_INFO = ("spk-info.txt", "spk_info.txt")
COLUMNS = ("utt_id", "subset", "path", "speaker", "gender", "language", "transcript")


def speaker_genders(path: Path) -> dict[str, str]:
    """``spk-info.txt`` -> {speaker: male|female}."""
    table = {fields[0]: fields[2] for _n, fields in read_fields(path, min_fields=3,
                                                                 comment="#")}
    return normalise_gender(pd.Series(table, dtype="string")).dropna().to_dict()


def characters(annotated: pd.Series) -> pd.Series:
    """``广 guang3 州 zhou1`` -> ``广州`` (every other token)."""
    return annotated.str.split().map(lambda tokens: "".join(tokens[0::2]), na_action="ignore")


def _subset(root: Path, subset: str) -> pd.DataFrame:
    content = root / subset / "content.txt"
    listed = pd.DataFrame(columns=["utt", "transcript"])
    if content.is_file():
        table = read_table(content, delimiter="\t", header=False, quoting=False,
                           names=["file", "text"])
        listed = pd.DataFrame({
            "utt": table["file"].str.strip().str.replace(r"\.wav$", "", regex=True),
            "transcript": characters(table["text"]),
        })
    on_disk = [p.rsplit("/", 1)[-1][:-4] for p in list_audio(root / subset / "wav", ("wav",),
                                                             depth=1)]
    extra = pd.DataFrame({"utt": sorted(set(on_disk) - set(listed["utt"]))})
    frame = concat([listed, extra], ["utt", "transcript"])
    speaker = frame["utt"].str.slice(0, 7)  # SSB0005 of SSB00050001
    return pd.DataFrame({
        "utt_id": frame["utt"],
        "subset": subset,
        "path": subset + "/wav/" + speaker + "/" + frame["utt"] + ".wav",
        "speaker": speaker,
        "language": "cmn",
        "transcript": frame["transcript"],
    })


def read(root: Path, options: dict, recipe) -> pd.DataFrame:
    """Rows of train/ and test/: content.txt entries plus unlisted wavs."""
    root = Path(root)
    parts = [_subset(root, s) for s in SUBSETS if (root / s).is_dir()]
    rows = concat(parts, COLUMNS)
    if not len(rows):
        raise layout_error(recipe, root, "no {train,test}/content.txt or "
                                         "{train,test}/wav/<speaker>/*.wav")
    info = next((root / n for n in SPEAKER_INFO if (root / n).is_file()), None)
    genders = speaker_genders(info) if info is not None else {}
    rows["gender"] = rows["speaker"].map(genders)
    return bonafide(rows)
