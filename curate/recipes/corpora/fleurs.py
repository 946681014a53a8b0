"""FLEURS: n-way parallel read speech (FLoRes-101 sentences) in 102 languages.

Layout of the Hugging Face release (``google/fleurs``, folder ``data/``), with the
audio archives unpacked in place::

    <lang_locale>/train.tsv, dev.tsv, test.tsv
    <lang_locale>/audio/train/<file>.wav, audio/dev/..., audio/test/...

The TSVs have no header and no quoting: ``id filename raw_transcription
transcription chars num_samples gender``. ``id`` is the sentence, shared by the
several readings of it; ``filename`` names the recording.

FLEURS-R (``google/fleurs-r``) has the same layout with every recording passed through
speech restoration: with ``[options] restored = true`` rows get ``artifact =
'restored'`` (their label follows ``--restored-as``) and link to the FLEURS recording
they were restored from (``source_corpus fleurs``, the same id).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from curate.errors import CurateError
from curate.recipes.corpora._genuine import bonafide, concat, normalise_gender, split_tables
from curate.recipes.corpora._common import layout_error
from curate.recipes.readers import read_table

SPLITS = ("train", "dev", "test")
NAMES = ["id", "filename", "raw_transcription", "transcription", "chars", "num_samples",
         "gender"]
COLUMNS = ("utt_id", "subset", "path", "gender", "language", "transcript")


def read(root: Path, options: dict, recipe) -> pd.DataFrame:
    """Rows of every split TSV (wavs not listed in one are not read)."""
    unknown = sorted(set(options) - {"restored"})
    if unknown:
        raise CurateError(f"{recipe.source}: unknown option(s) {', '.join(unknown)}; the "
                          f"fleurs recipe takes: restored (true for FLEURS-R)")
    root = Path(root)
    parts = []
    for locale, split, tsv, prefix in split_tables(root, SPLITS):
        table = read_table(tsv, delimiter="\t", header=False, quoting=False, names=NAMES)
        filename = table["filename"].str.strip()
        raw = table["raw_transcription"].str.strip()
        parts.append(pd.DataFrame({
            "utt_id": locale + "/" + split + "/" + filename.str.replace(
                r"\.wav$", "", regex=True),
            "subset": split,
            "path": prefix + "audio/" + split + "/" + filename,
            "gender": normalise_gender(table["gender"]),
            "language": locale,
            "transcript": raw.where(raw != "", table["transcription"].str.strip()),
        }))
    if not parts:
        raise layout_error(recipe, root, "no <lang_locale>/{train,dev,test}.tsv")
    rows = bonafide(concat(parts, COLUMNS).drop_duplicates("utt_id", keep="first"))
    if options.get("restored"):
        rows["label"], rows["label_raw"], rows["artifact"] = "spoof", "restored", "restored"
        rows["source_corpus"], rows["source_utt"] = "fleurs", "fleurs:" + rows["utt_id"]
    return rows
