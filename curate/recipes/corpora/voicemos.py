"""VoiceMOS Challenge 2022, main track (BVCC): synthetic speech with listener ratings.

Layout (ROOT is the ``main`` folder of the challenge data, as its scripts assemble it)::

    DATA/wav/<system>-<utt>.wav                 sys64e2f-utt491a28a.wav
    DATA/sets/train_mos_list.txt                <file>,<mean score>
    DATA/sets/val_mos_list.txt, DATA/sets/test_mos_list.txt   (where released)

BVCC gathers samples of past Blizzard Challenges, Voice Conversion Challenges and
ESPnet TTS models under anonymised system ids. The corpus gives no per-sample flag for
the natural reference samples some of those challenges included, so every file is read
as synthetic, as the AntiDeepfake set uses it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from curate.recipes.corpora._common import layout_error
from curate.recipes.corpora._genuine import list_audio
from curate.recipes.corpora._spoof import finish
from curate.recipes.readers import read_table

LISTS = (("train", "train_mos_list.txt"), ("val", "val_mos_list.txt"),
         ("test", "test_mos_list.txt"))


def read(root: Path, options: dict, recipe) -> pd.DataFrame:
    """One row per DATA/wav/*.wav; subset from the MOS lists that name it."""
    root = Path(root)
    names = list_audio(root / "DATA/wav", ("wav",), depth=0)
    if not names:
        raise layout_error(recipe, root, "no DATA/wav/<system>-<utt>.wav")
    subset: dict[str, str] = {}
    for split, name in LISTS:
        path = root / "DATA/sets" / name
        if path.is_file():
            table = read_table(path, delimiter=",", header=False, names=["file", "mos"],
                               quoting=False)
            for file in table["file"].str.strip():
                subset.setdefault(file, split)
    frame = pd.DataFrame({"name": names})
    stem = frame["name"].str.replace(r"\.wav$", "", regex=True)
    system = stem.str.split("-", n=1).str[0]
    return finish(pd.DataFrame({
        "utt_id": stem,
        "subset": frame["name"].map(subset),
        "path": "DATA/wav/" + frame["name"],
        "label": "spoof",
        "label_raw": "synthetic",
        "artifact": "unknown",
        "generator": system,
        "language": "und",
    }))
