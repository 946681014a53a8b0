"""Vocoded copies of a genuine corpus: the genuine corpus's tree under one folder per vocoder.

AntiDeepfake re-synthesised LibriTTS and VoxCeleb2 with several vocoders (its protocol
README points to the notebook that made them); the copies keep the source tree:

    LibriTTS-Vocoded/<vocoder>/<subset>/<speaker>/<chapter>/<utt>.wav
    VoxCeleb2-Vocoded/<vocoder>/<dev|test>/aac/<speaker>/<video>/<segment>.wav

Every file is a copy synthesis of the genuine file at the same place in the source
corpus: ``source_utt`` is that file's id in the source corpus's recipe.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from curate.recipes.corpora._common import layout_error
from curate.recipes.corpora._genuine import list_audio
from curate.recipes.corpora._spoof import finish


def _rows(root: Path, recipe, depth: int, what: str, parse) -> pd.DataFrame:
    rows = []
    for vocoder in sorted(p.name for p in root.iterdir() if p.is_dir()):
        for rel in list_audio(root / vocoder, ("wav", "flac"), depth=depth):
            fields = parse(rel)
            if fields is None:
                continue
            rows.append({"utt_id": f"{vocoder}/{rel.rsplit('.', 1)[0]}",
                         "path": f"{vocoder}/{rel}", "label": "spoof",
                         "label_raw": "vocoded", "artifact": "copy_synthesis",
                         "generator": vocoder, **fields})
    if not rows:
        raise layout_error(recipe, root, f"no <vocoder>/{what}")
    return finish(pd.DataFrame(rows))


def read_libritts(root: Path, options: dict, recipe) -> pd.DataFrame:
    """LibriTTS-Vocoded: ``<vocoder>/<subset>/<speaker>/<chapter>/<utt>.wav``."""
    def parse(rel: str) -> dict:
        subset, speaker, _chapter, name = rel.split("/")
        utt = name.rsplit(".", 1)[0]
        return {"subset": subset, "speaker": speaker, "language": "eng",
                "source_corpus": "libritts", "source_utt": f"libritts:{utt}"}

    return _rows(Path(root), recipe, 3, "<subset>/<speaker>/<chapter>/*.wav", parse)


def read_voxceleb2(root: Path, options: dict, recipe) -> pd.DataFrame:
    """VoxCeleb2-Vocoded: ``<vocoder>/<dev|test>/aac/<speaker>/<video>/<segment>.wav``."""
    def parse(rel: str) -> dict | None:
        subset, aac, speaker, video, name = rel.split("/")
        if aac != "aac":
            return None
        utt = f"{speaker}/{video}/{name.rsplit('.', 1)[0]}"
        return {"subset": subset, "speaker": speaker, "language": "und",
                "source_corpus": "voxceleb2", "source_utt": f"voxceleb2:{utt}"}

    return _rows(Path(root), recipe, 4, "<dev|test>/aac/<speaker>/<video>/*.wav", parse)
