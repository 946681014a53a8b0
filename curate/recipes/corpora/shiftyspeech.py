"""ShiftySpeech (Garg et al., 2025): synthetic speech under distribution shifts.

Layout (ROOT is the ``ShiftySpeech`` folder, as its README's gsutil copy creates it)::

    Vocoders/<vocoder>/<source>/**/<file>.{wav,flac}   source: aishell, jsut, youtube,
                                                       audiobook, podcast, voxceleb, ...
    TTS/<system>/<dataset>/**/<file>.{wav,flac}        e.g. TTS/Grad-TTS/LJSpeech/

The vocoder part re-synthesises real speech of the source datasets (copy synthesis);
the TTS part holds text-to-speech output of systems trained on one dataset. The
genuine speech is distributed separately (``real-data``) and is not read here.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from curate.recipes.corpora._common import layout_error
from curate.recipes.corpora._genuine import list_audio
from curate.recipes.corpora._spoof import finish

# Source dataset folder (lower case) -> (language, source corpus recipe)
SOURCES = {
    "aishell": ("cmn", "aishell1"), "aishell1": ("cmn", "aishell1"),
    "jsut": ("jpn", "jsut"), "audiobook": ("eng", "librispeech"),
    "librispeech": ("eng", "librispeech"), "ljspeech": ("eng", "ljspeech"),
    "voxceleb": ("und", "voxceleb2"), "podcast": ("eng", "msp_podcast"),
    "youtube": ("und", None), "commonvoice": ("und", "commonvoice"),
}


def _rows(root: Path, part: str, artifact: str) -> list[dict]:
    rows = []
    base = root / part
    if not base.is_dir():
        return rows
    for rel in list_audio(base, ("wav", "flac")):
        fields = rel.split("/")
        if len(fields) < 3:
            continue  # files must lie below <system>/<source>/
        system, source = fields[0], fields[1]
        language, corpus = SOURCES.get(source.lower(), ("und", None))
        rows.append({
            "utt_id": f"{part}/{rel.rsplit('.', 1)[0]}",
            "subset": source,
            "path": f"{part}/{rel}",
            "label": "spoof",
            "label_raw": part,
            "artifact": artifact,
            "generator": system,
            "language": language,
            "source_corpus": corpus,
        })
    return rows


def read(root: Path, options: dict, recipe) -> pd.DataFrame:
    """Rows of every audio file under Vocoders/ and TTS/."""
    root = Path(root)
    rows = _rows(root, "Vocoders", "copy_synthesis") + _rows(root, "TTS", "tts")
    if not rows:
        raise layout_error(recipe, root, "no Vocoders/<vocoder>/<source>/... or "
                                         "TTS/<system>/<dataset>/... audio")
    return finish(pd.DataFrame(rows))
