"""LibriTTS (and LibriTTS-R): LibriSpeech material re-segmented for TTS, 24 kHz wav.

Layout (the ``LibriTTS/`` folder the archives unpack into)::

    speakers.tsv                                  READER GENDER SUBSET NAME (tab-separated)
    <subset>/<speaker>/<chapter>/<utt>.wav
    <subset>/<speaker>/<chapter>/<utt>.normalized.txt   (one line of text)
    <subset>/<speaker>/<chapter>/<utt>.original.txt

``<utt>`` is ``<speaker>_<chapter>_<paragraph>_<sentence>``. ROOT may also be one
subset folder. There is no utterance list: rows are the wav files plus any
utterance that has a text file but no wav (then marked missing).

LibriTTS-R has the same layout but its audio went through speech restoration:
read it with a recipe that says ``base = "libritts"`` and ``[options] restored =
true``; its rows then get ``artifact = 'restored'``, their label follows the
label policy (``--restored-as``) and they link to the LibriTTS utterance they were
restored from (``source_corpus libritts``, the same id).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from curate.errors import CurateError
from curate.recipes.corpora._genuine import bonafide, concat, normalise_gender, unit_folders
from curate.recipes.corpora._common import layout_error
from curate.recipes.readers import read_table

COLUMNS = ("utt_id", "subset", "path", "speaker", "gender", "language", "transcript")
_SUFFIXES = (".wav", ".normalized.txt", ".original.txt")


def _is_subset(folder: Path) -> bool:
    return next(folder.glob("*/*/*.wav"), None) is not None or \
        next(folder.glob("*/*/*.normalized.txt"), None) is not None


def _read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8-sig") as handle:
            return handle.read().strip()
    except FileNotFoundError:
        return None


def _genders(root: Path) -> dict[str, str]:
    for path in (root / "speakers.tsv", root.parent / "speakers.tsv"):
        if path.is_file():
            table = read_table(path, delimiter="\t", quoting=False, min_fields=2,
                               extra="merge")
            speaker = table.iloc[:, 0].str.strip()
            known = pd.DataFrame({"speaker": speaker,
                                  "gender": normalise_gender(table.iloc[:, 1])})
            return dict(known.dropna().drop_duplicates("speaker")
                        .itertuples(index=False, name=None))
    return {}


def _utterances(folder: Path) -> list[tuple[str, str]]:
    """(chapter folder relative to ``folder``, utterance) of every wav or text file."""
    found = set()
    for dirpath, _dirs, files in os.walk(folder):
        rel = os.path.relpath(dirpath, folder)
        if rel.count(os.sep) != 1 or rel == ".":
            continue
        for name in files:
            for suffix in _SUFFIXES:
                if name.endswith(suffix):
                    found.add((rel.replace(os.sep, "/"), name[:-len(suffix)]))
                    break
    return sorted(found)


def read(root: Path, options: dict, recipe) -> pd.DataFrame:
    """Rows of every utterance with a wav or a text file in ``<subset>/<spk>/<chapter>/``."""
    unknown = sorted(set(options) - {"restored"})
    if unknown:
        raise CurateError(f"{recipe.source}: unknown option(s) {', '.join(unknown)}; the "
                          f"libritts recipe takes: restored (true for LibriTTS-R)")
    root = Path(root)
    genders = _genders(root)
    parts = []
    for subset, folder, prefix in unit_folders(root, _is_subset):
        utts = _utterances(folder)
        texts = []
        for chapter, utt in utts:
            base = os.path.join(folder, chapter, utt)
            text = _read_text(base + ".normalized.txt")
            texts.append(text if text is not None else _read_text(base + ".original.txt"))
        frame = pd.DataFrame(utts, columns=["chapter", "utt"])
        speaker = frame["utt"].str.split("_", n=1).str[0]
        parts.append(pd.DataFrame({
            "utt_id": frame["utt"],
            "subset": subset,
            "path": prefix + frame["chapter"] + "/" + frame["utt"] + ".wav",
            "speaker": speaker,
            "gender": speaker.map(genders),
            "language": "eng",
            "transcript": pd.Series(texts, dtype="object"),
        }))
    if not parts:
        raise layout_error(recipe, root, "no <subset>/<speaker>/<chapter>/*.wav")
    rows = bonafide(concat(parts, COLUMNS))
    if options.get("restored"):
        rows["label"], rows["label_raw"], rows["artifact"] = "spoof", "restored", "restored"
        rows["source_corpus"], rows["source_utt"] = "libritts", "libritts:" + rows["utt_id"]
    return rows
