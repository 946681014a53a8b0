"""VoxCeleb2: celebrity speech from YouTube (6,112 speakers), AAC in m4a.

Layout (ROOT is the folder holding the unpacked archives)::

    dev/aac/<id>/<video>/<segment>.m4a
    test/aac/<id>/<video>/<segment>.m4a
    vox2_meta.csv     VoxCeleb2 ID ,VGGFace2 ID ,Gender ,Set   (comma-separated, padded)

Copies converted to wav (``dev/wav/...``) are read too. m4a is decoded through PyAV
by the probe. There is no utterance list: every audio file is a row.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from curate.errors import CurateError
from curate.recipes.corpora._genuine import bonafide
from curate.recipes.corpora._common import layout_error
from curate.recipes.corpora.voxceleb1 import audio_rows, speakers

AUDIO_DIRS = (("dev/aac", "dev"), ("test/aac", "test"), ("aac", None),
              ("dev/wav", "dev"), ("test/wav", "test"))
META = "vox2_meta.csv"


def read(root: Path, options: dict, recipe) -> pd.DataFrame:
    """Rows of every m4a (or wav); gender and subset from vox2_meta.csv where it lists them."""
    root = Path(root)
    meta = speakers(root, META, ["id", "vggface_id", "gender", "set"])
    rows = audio_rows(root, AUDIO_DIRS, ("m4a", "wav"), meta)
    if not len(rows):
        raise layout_error(recipe, root, "no {dev,test}/aac/<id>/<video>/*.m4a")
    dup = rows["utt_id"].duplicated(keep=False)
    if dup.any():  # an m4a and its converted wav, or the same id in two folders
        raise CurateError(f"{recipe.source}: {int(dup.sum())} files share an id "
                          f"(e.g. {rows.loc[dup, 'path'].iloc[0]}); keep one copy of each "
                          f"utterance under {root}")
    return bonafide(rows)
