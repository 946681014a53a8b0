"""LibriSeVoc (Sun et al., CVPR workshops 2023): LibriTTS speech and six vocoders' copies of it.

Layout (ROOT is the ``LibriSeVoc`` folder)::

    gt/<speaker>_<chapter>_<paragraph>_<sentence>.wav           genuine (LibriTTS names)
    <vocoder>/<speaker>_<chapter>_<paragraph>_<sentence>_gen.wav  diffwave, melgan,
                                   parallel_wave_gan, wavegrad, wavenet, wavernn
    train.txt, dev.txt, test.txt   genuine file names, one per line (the split)

A vocoded file is the genuine file of the same name re-synthesised (self-vocoding): it
shares that file's split.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from curate.recipes.corpora._common import layout_error
from curate.recipes.corpora._genuine import list_audio
from curate.recipes.corpora._spoof import finish
from curate.recipes.readers import read_table

GENUINE = "gt"
SPLITS = ("train", "dev", "test")
_UTT = re.compile(r"^((\d+)_\d+_\d+_\d+)(?:_gen)?$")


def read(root: Path, options: dict, recipe) -> pd.DataFrame:
    """One row per wav directly in a system folder."""
    root = Path(root)
    split_of: dict[str, str] = {}
    for split in SPLITS:
        path = root / f"{split}.txt"
        if path.is_file():
            table = read_table(path, delimiter="\t", header=False, names=["file"],
                               quoting=False)
            for name in table["file"].str.strip():
                split_of.setdefault(name.rsplit(".", 1)[0], split)
    rows = []
    for folder in sorted(p.name for p in root.iterdir() if p.is_dir()):
        for name in list_audio(root / folder, ("wav",), depth=0):
            stem = name[:-4]
            match = _UTT.match(stem)
            utt = match.group(1) if match else None
            genuine = folder == GENUINE
            rows.append({
                "utt_id": f"{folder}/{stem}",
                "subset": split_of.get(utt) if utt else None,
                "path": f"{folder}/{name}",
                "label": "bonafide" if genuine else "spoof",
                "label_raw": folder,
                "artifact": None if genuine else "copy_synthesis",
                "generator": None if genuine else folder,
                "language": "eng",
                "speaker": match.group(2) if match else None,
                "source_corpus": "libritts" if utt else None,
                "source_utt": f"libritts:{utt}" if utt else None,
            })
    if not rows:
        raise layout_error(recipe, root, "no gt/*.wav or <vocoder>/*_gen.wav")
    return finish(pd.DataFrame(rows))
