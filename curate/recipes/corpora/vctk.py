"""CSTR VCTK: 110 English speakers with various accents reading newspaper sentences.

Layouts (ROOT is the unpacked corpus folder)::

    VCTK-Corpus-0.92/wav48_silence_trimmed/<spk>/<spk>_<nnn>_mic1.flac (and _mic2)
    VCTK-Corpus-0.92/txt/<spk>/<spk>_<nnn>.txt
    VCTK-Corpus-0.92/speaker-info.txt          ID AGE GENDER ACCENTS REGION COMMENTS
    VCTK-Corpus/wav48/<spk>/<spk>_<nnn>.wav    (release 0.80: one microphone)

There is no utterance list: every audio file is a row (each microphone its own
row); text files without audio are not rows. ``speaker-info.txt`` is aligned with
spaces; release 0.80 writes speaker ids without the ``p`` (``225``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

from curate.recipes.corpora._genuine import bonafide, list_audio, normalise_gender
from curate.recipes.corpora._common import layout_error, read_fields

# audio folder, extensions
AUDIO_DIRS = (("wav48_silence_trimmed", ("flac",)), ("wav48", ("wav", "flac")))
_MIC_RE = re.compile(r"_mic\d+$")


def speaker_genders(path: Path) -> dict[str, str]:
    """``speaker-info.txt`` -> {speaker id (``p225``): male|female}."""
    genders = {}
    for _number, fields in read_fields(path, min_fields=3):
        speaker, gender = fields[0], fields[2]
        if speaker.upper() == "ID":
            continue  # the header line
        if speaker.isdigit():
            speaker = "p" + speaker  # release 0.80
        genders[speaker] = gender
    normalised = normalise_gender(pd.Series(genders, dtype="string"))
    return normalised.dropna().to_dict()


def _text(root: Path, speaker: str, utt: str) -> str | None:
    try:
        with open(root / "txt" / speaker / f"{utt}.txt", encoding="utf-8-sig") as handle:
            return handle.read().strip()
    except FileNotFoundError:
        return None


def read(root: Path, options: dict, recipe) -> pd.DataFrame:
    """Rows of every audio file under wav48_silence_trimmed/ or wav48/."""
    root = Path(root)
    info = root / "speaker-info.txt"
    genders = speaker_genders(info) if info.is_file() else {}
    rows = []
    for folder, extensions in AUDIO_DIRS:
        for rel in list_audio(root / folder, extensions, depth=1):
            speaker, name = rel.split("/")
            stem = os.path.splitext(name)[0]
            utt = _MIC_RE.sub("", stem)
            rows.append({"utt_id": stem, "path": f"{folder}/{rel}", "speaker": speaker,
                         "gender": genders.get(speaker), "language": "eng",
                         "transcript": _text(root, speaker, utt)})
    if not rows:
        raise layout_error(recipe, root, "no wav48_silence_trimmed/<speaker>/*.flac or "
                                         "wav48/<speaker>/*.wav")
    return bonafide(pd.DataFrame(rows))
