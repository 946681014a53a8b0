"""HABLA (Tamayo Flórez et al., Interspeech 2023): Latin American Spanish genuine speech and
its spoofs.

Layout (ROOT is ``FinalDataset_16khz``)::

    Real/<country>/<speaker>/<utt>.wav
        Real/Chile/clf_07508/clf_07508_00799857148.wav
    <system>/<country>-<country>/<source>-<target>/<system>-<source utt>-<target utt>.wav
        CycleGAN/Venezuela-Argentina/vem_02484-arm_01523/
            CycleGAN-vem_02484_00993837010-arm_01523_020267.wav
    <system>/<country>/<speaker>/<file>.wav        (systems without a source voice)

Speaker ids are those of the crowdsourced Latin American Spanish corpora the genuine
speech comes from: country letters, ``f``/``m`` for the reader's gender, a number.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from curate.recipes.corpora._common import layout_error
from curate.recipes.corpora._genuine import list_audio
from curate.recipes.corpora._spoof import finish

REAL = "Real"
_SPEAKER = re.compile(r"^[a-z]{2}([fm])_\d+$")  # arf_00295: Argentina, female
_CONVERTED = re.compile(r"^[^-]+-((?:[a-z]{2}[fm]_\d+)_\d+)-")


def _gender(speaker: str) -> str | None:
    match = _SPEAKER.match(speaker or "")
    return {"f": "female", "m": "male"}[match.group(1)] if match else None


def read(root: Path, options: dict, recipe) -> pd.DataFrame:
    """One row per wav three folders below ROOT."""
    root = Path(root)
    files = list_audio(root, ("wav",), depth=3)
    if not files:
        raise layout_error(recipe, root, "no <Real|system>/<country>/<speaker>/*.wav")
    real_country = {}  # real speaker -> country folder, to link conversions to sources
    for rel in files:
        system, country, speaker, _name = rel.split("/")
        if system == REAL:
            real_country[speaker] = country
    rows = []
    for rel in files:
        system, country, folder, name = rel.split("/")
        stem = name[:-4]
        genuine = system == REAL
        converted = not genuine and "-" in folder
        speaker = folder.split("-", 1)[1] if converted else folder
        source_utt = None
        match = _CONVERTED.match(stem) if converted else None
        if match:
            source = match.group(1)
            source_speaker = source.rsplit("_", 1)[0]
            home = real_country.get(source_speaker, country.split("-", 1)[0])
            source_utt = f"habla:{REAL}/{home}/{source_speaker}/{source}"
        rows.append({
            "utt_id": rel[:-4],
            "path": rel,
            "label": "bonafide" if genuine else "spoof",
            "label_raw": system,
            "artifact": None if genuine else ("vc" if converted else "unknown"),
            "generator": None if genuine else system,
            "language": "spa",
            "speaker": speaker,
            "gender": _gender(speaker),
            "source_corpus": "habla" if source_utt else None,
            "source_utt": source_utt,
        })
    return finish(pd.DataFrame(rows))
