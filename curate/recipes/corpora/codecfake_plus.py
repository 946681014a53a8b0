"""CodecFake+ (Chen et al., 2025): VCTK resynthesised by 31 neural codecs, and speech from
codec-based speech generation systems.

Layout (ROOT is the ``CodecFake+`` folder, as the CodecFake-Source-Tracing README
arranges it, with that repository's protocol lists copied under ``metadata/``)::

    all_data_16k/<utt>.wav                 CoRS: codec re-synthesis (and bona fide VCTK)
    SLMdemos_16k/<SYSTEM>/<utt>.wav        CoSG: codec-based speech generation demos
    metadata/training/{train,dev,test}_mult_learn[_bal_*].txt
    metadata/evaluation/*.txt              CoSG_ALL.txt, CoSG_SEEN.txt, ...

Training protocols (CoRS) have 7 blank-separated fields ``SPEAKER UTT - AUX DEC VQ KEY``:
the codec taxonomy (auxiliary objective ``Trad``/``SEM``/``Disent``, decoder domain
``TIME``/``FREQ``, quantiser ``MVQ``/``SVQ``/``SQ``; ``REAL REAL REAL`` for bona fide),
e.g. ``p226 p226_261_FunCodec_en-libritts-16k-gr1nq32ds320 - Trad FREQ MVQ spoof``.
Spoofed ids are the VCTK id, ``_`` and the codec's name. Evaluation protocols (CoSG) mix
4- and 5-field lines ``SYSTEM UTT - [VQ] KEY``; their audio is ``SLMdemos_16k/SYSTEM/UTT``.
Keys are ``bonafide`` and ``spoof``; ``spoofs`` (a typo some lists carry) is read as
spoof and kept in ``label_raw``. Audio is ``.wav`` (``.flac`` where only that exists).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from curate.errors import CurateError
from curate.recipes.corpora._common import layout_error, read_fields
from curate.recipes.corpora._spoof import check_words, fields_frame, files_in, finish

CORS_AUDIO = "all_data_16k"
COSG_AUDIO = "SLMdemos_16k"
KEYS = {"bonafide": "bonafide", "spoof": "spoof", "spoofs": "spoof"}
_TRAINING = re.compile(r"^(train|dev|test)_")
_VCTK = re.compile(r"^((?:p|s)\d+_\d+)(?:_(.+))?$")  # p226_261[_<codec>], s5_400[_<codec>]


def _extension(folder: Path, stems: pd.Series) -> pd.Series:
    """``.wav``, or ``.flac`` for stems that only have a flac in ``folder``."""
    names = set(files_in(folder))
    flac = stems.map(lambda s: f"{s}.flac" in names and f"{s}.wav" not in names)
    return pd.Series(".wav", index=stems.index).where(~flac, ".flac")


def _training(path: Path, root: Path) -> pd.DataFrame:
    match = _TRAINING.match(path.name)
    if not match:
        raise CurateError(f"{path}: cannot tell the subset from the name; training lists "
                          f"are named train_*.txt, dev_*.txt or test_*.txt")
    table = fields_frame(read_fields(path, min_fields=7, max_fields=7),
                         ("speaker", "utt", "env", "aux", "dec", "vq", "key"))
    check_words(table, "key", KEYS, path, "key")
    label = table["key"].map(KEYS)
    spoof = label == "spoof"
    parts = table["utt"].str.extract(_VCTK)
    codec = parts[1].where(spoof)
    folder = CORS_AUDIO
    return pd.DataFrame({
        "utt_id": table["utt"],
        "subset": match.group(1),
        "path": folder + "/" + table["utt"] + _extension(root / folder, table["utt"]),
        "label": label,
        "label_raw": table["key"],
        "artifact": pd.Series("neural_codec", index=table.index).where(spoof),
        "generator": codec,
        "language": "eng",
        "speaker": table["speaker"],
        "source_corpus": "vctk",
        "source_utt": "vctk:" + parts[0],
        "_line": table["_line"],
    })


def _evaluation(path: Path, root: Path) -> pd.DataFrame:
    lines = read_fields(path, min_fields=4, max_fields=5)
    rows = [(n, f[:3] + ["-" if len(f) == 4 else f[3], f[-1]]) for n, f in lines]
    table = fields_frame(rows, ("system", "utt", "env", "vq", "key"))
    check_words(table, "key", KEYS, path, "key")
    label = table["key"].map(KEYS)
    spoof = label == "spoof"
    rel = table["system"] + "/" + table["utt"]
    ext = pd.Series(".wav", index=table.index)
    for system in table["system"].unique():
        mine = table["system"] == system
        ext[mine] = _extension(root / COSG_AUDIO / system, table.loc[mine, "utt"])
    return pd.DataFrame({
        "utt_id": "cosg/" + rel,
        "subset": "cosg",
        "path": COSG_AUDIO + "/" + rel + ext,
        "label": label,
        "label_raw": table["key"],
        "artifact": pd.Series("tts", index=table.index).where(spoof),
        "generator": table["system"].where(spoof),
        "language": "und",
    })


def read(root: Path, options: dict, recipe) -> pd.DataFrame:
    """Rows of every protocol list under ROOT/metadata (one row per audio file)."""
    root = Path(root)
    training = sorted(root.glob("metadata/training/*.txt"),
                      key=lambda p: ("_bal" in p.name, p.name))  # full lists first
    evaluation = sorted(root.glob("metadata/evaluation/*.txt"))
    if not training and not evaluation:
        raise layout_error(recipe, root, "no metadata/training/*.txt or "
                                         "metadata/evaluation/*.txt protocol list")
    parts = [_training(p, root) for p in training] + [_evaluation(p, root) for p in evaluation]
    rows = pd.concat(parts, ignore_index=True)
    # Lists overlap (balanced lists and CoSG_SEEN are subsets of others): one row per file,
    # from the first list naming it; two lists disagreeing on a label is an error.
    labels = rows.groupby("utt_id")["label"].nunique()
    if (labels > 1).any():
        utt = labels.index[labels > 1][0]
        raise CurateError(f"{recipe.source}: the protocol lists under {root / 'metadata'} "
                          f"give {utt!r} different labels; keep the lists of one release")
    return finish(rows.drop_duplicates("utt_id", keep="first"))
