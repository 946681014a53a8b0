"""Codecfake (Xie et al., 2024): VCTK, LibriTTS and AISHELL-3 speech resynthesised by neural codecs.

Not CodecFake of Wu et al. (recipe ``codecfake_wu``) nor CodecFake+ (``codecfake_plus``).

Layout (ROOT is the unpacked ``Codecfake`` folder, as the authors' README arranges it)::

    label/train.txt, label/dev.txt, label/C1.txt ... label/C7.txt, label/A1.txt ... A3.txt
    train/*.wav, dev/*.wav
    test/C1/*.wav ... test/C7/*.wav, test/A1/*.wav ... test/A3/*.wav   (or C1/ ... directly)

Label lines are blank-separated ``FILE LABEL [TYPE]`` (``SSB13650058.wav real 0``,
``F01_SSB13650058.wav fake 1``); fake files carry the codec as a ``F0N_`` prefix on the
name of the real file they were made from. Only the label files present are read.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from curate.recipes.corpora._spoof import check_words, fields_frame, finish
from curate.recipes.corpora._common import layout_error, read_fields

_PREFIX = re.compile(r"^(F\d+)_(.+)$")
_VCTK = re.compile(r"^(p\d+)_\d+")            # p225_001
_AISHELL3 = re.compile(r"^(SSB\d{4})\d{4}$")  # SSB13650058 (speaker SSB1365)
_LIBRITTS = re.compile(r"^(\d+)_\d+_\d+_\d+$")  # 84_121123_000007_000001 (reader 84)


def _audio_dir(root: Path, part: str) -> str:
    if part in ("train", "dev"):
        return part
    nested = f"test/{part}"
    return part if not (root / nested).is_dir() and (root / part).is_dir() else nested


def _source(stem: str) -> tuple[str | None, str | None, str | None, str]:
    """(source corpus, source utt id, speaker, language) of a real file's stem."""
    match = _AISHELL3.match(stem)
    if match:
        return "aishell3", f"aishell3:{stem}", match.group(1), "cmn"
    match = _VCTK.match(stem)
    if match:
        return "vctk", f"vctk:{stem}", match.group(1), "eng"
    match = _LIBRITTS.match(stem)
    if match:
        return "libritts", f"libritts:{stem}", match.group(1), "eng"
    return None, None, None, "und"


def _part(root: Path, label_file: Path) -> pd.DataFrame:
    part = label_file.stem
    lines = read_fields(label_file, min_fields=2, max_fields=3)
    table = fields_frame(lines, ("file", "label", "type"))
    check_words(table, "label", ("real", "fake"), label_file, "label")
    folder = _audio_dir(root, part)
    stems = table["file"].str.replace(r"\.(wav|flac)$", "", regex=True)
    prefix = stems.str.extract(_PREFIX)
    fake = table["label"] == "fake"
    generator = prefix[0].where(prefix[0].notna(), part).where(fake)
    origin = prefix[1].fillna(stems)
    facts = pd.DataFrame([_source(s) for s in origin],
                         columns=["source_corpus", "source_utt", "speaker", "language"],
                         index=table.index)
    kind = "tts" if part.startswith("A") else "neural_codec"
    return pd.DataFrame({
        "utt_id": part + "/" + stems,
        "subset": part,
        "path": folder + "/" + table["file"],
        "label": table["label"].map({"real": "bonafide", "fake": "spoof"}),
        "label_raw": table["label"],
        "artifact": pd.Series(kind, index=table.index).where(fake),
        "generator": generator,
        **{c: facts[c] for c in facts.columns},
    })


def read(root: Path, options: dict, recipe) -> pd.DataFrame:
    """Rows of every label/<part>.txt under ROOT."""
    root = Path(root)
    labels = sorted(root.glob("label/*.txt"))
    if not labels:
        raise layout_error(recipe, root, "no label/*.txt (train.txt, dev.txt, C1.txt ...)")
    return finish(pd.concat([_part(root, f) for f in labels], ignore_index=True))
