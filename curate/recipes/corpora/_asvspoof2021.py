"""ASVspoof 2021 LA and DF evaluation data with the full keys (``trial_metadata.txt``).

ROOT holds the unpacked evaluation audio and the unpacked keys::

    ASVspoof2021_LA_eval/flac/LA_E_*.flac        (or flac/ directly under ROOT, or
                                                  ASVspoof2021_DF_eval_part0N/... for
                                                  the four DF archive parts)
    keys/CM/trial_metadata.txt                   (LA-keys-full.tar.gz / DF-keys-full.tar.gz;
                                                  any folder depth; keys/LA/CM/... too)

Key lines are blank-separated without header:

- LA (8): ``SPEAKER TRIAL CODEC TRANSMISSION ATTACK KEY TRIM SUBSET``
  (``LA_0009 LA_E_9332881 alaw ita_tx A07 spoof notrim eval``)
- DF (13): ``SPEAKER TRIAL CODEC SOURCE ATTACK KEY TRIM SUBSET VOCODER`` and four
  VCC meta-labels (``TEF2 DF_E_2000013 low_m4a vcc2020 Task1-team20 spoof notrim eval
  neural_vocoder_nonautoregressive Task1 team20 FF E``; ``- - - -`` for ASVspoof trials)

The keys folder also holds ``ASV/trial_metadata.txt`` (the ASV protocol, other
columns): only ``CM`` keys of the recipe's own track are read.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from curate.errors import CurateError
from curate.recipes.corpora._spoof import (ASVSPOOF2019_KINDS, check_words, fields_frame,
                                           files_in, find_named, finish)
from curate.recipes.corpora._common import layout_error, read_fields

TRACKS = ("LA", "DF", "PA")
LA_COLUMNS = ("speaker", "trial", "codec", "transmission", "attack", "key", "trim", "subset")
DF_COLUMNS = ("speaker", "trial", "codec", "source", "attack", "key", "trim", "subset",
              "vocoder", "vcc_task", "vcc_team", "vcc_genders", "vcc_language")
# DF source databases -> catalog corpus names
DF_SOURCES = {"asvspoof": "asvspoof2019_la", "vcc2018": "vcc2018", "vcc2020": "vcc2020"}
# VCC 2020 target speakers of task 2 speak Finnish, German or Mandarin (TFF1, TGM1, TMF1).
VCC2020_TARGET_LANGUAGES = {"TF": "fin", "TG": "deu", "TM": "cmn"}


def find_keys(root: Path, track: str, recipe) -> Path:
    """The CM ``trial_metadata.txt`` of ``track`` under ROOT (one clear error otherwise)."""
    others = {t for t in TRACKS if t != track}
    candidates = []
    for path in find_named(root, "trial_metadata.txt"):
        parts = path.relative_to(root).parts[:-1]
        if "ASV" in parts:
            continue  # the ASV protocol
        if any(p in others or p.startswith(tuple(f"{o}-keys" for o in others))
               for p in parts):
            continue  # another track's keys unpacked beside ours
        candidates.append(path)
    if len(candidates) > 1:
        cm = [p for p in candidates if "CM" in p.relative_to(root).parts]
        candidates = cm or candidates
    if not candidates:
        raise layout_error(recipe, root, "no keys/CM/trial_metadata.txt (from "
                                         f"{track}-keys-full.tar.gz)")
    if len(candidates) > 1:
        shown = ", ".join(str(p.relative_to(root)) for p in candidates[:4])
        raise CurateError(f"{recipe.source}: several {track} key files under {root} "
                          f"({shown}); keep one copy of keys/CM/trial_metadata.txt")
    return candidates[0]


def flac_paths(root: Path, track: str, trials: pd.Series, recipe) -> pd.Series:
    """Path of each trial's flac relative to ROOT.

    One flac folder: every path lies in it. Several (the DF archive parts unpacked
    side by side): each trial is looked up; trials found in none get a path in the
    first folder (the engine marks them missing).
    """
    name = f"ASVspoof2021_{track}_eval"
    folders = [f"{name}/flac", "flac"]
    folders += sorted(p.relative_to(root).as_posix()
                      for p in root.glob(f"{name}_part*/{name}/flac"))
    folders += sorted(p.relative_to(root).as_posix() for p in root.glob(f"{name}_part*/flac"))
    present = [f for f in folders if (root / f).is_dir()]
    if not present:
        raise layout_error(recipe, root, f"no {name}/flac/ (or flac/) folder")
    if len(present) == 1:
        return present[0] + "/" + trials + ".flac"
    where: dict[str, str] = {}
    for folder in present:
        for file in files_in(root / folder):
            if file.endswith(".flac"):
                where.setdefault(file[:-5], folder)
    located = trials.map(where).fillna(present[0])
    return located + "/" + trials + ".flac"


def _keys(root: Path, track: str, recipe) -> tuple[Path, pd.DataFrame]:
    path = find_keys(root, track, recipe)
    if track == "LA":
        lines = read_fields(path, min_fields=8, max_fields=8)
        table = fields_frame(lines, LA_COLUMNS)
    else:
        lines = read_fields(path, min_fields=9, max_fields=13)
        table = fields_frame(lines, DF_COLUMNS)
    check_words(table, "key", ("bonafide", "spoof"), path, "key")
    return path, table


def _none(values: pd.Series, empty: tuple[str, ...]) -> pd.Series:
    return values.where(~values.isin(empty))


def read_la(root: Path, options: dict, recipe) -> pd.DataFrame:
    root = Path(root)
    _path, t = _keys(root, "LA", recipe)
    spoof = t["key"] == "spoof"
    attack = _none(t["attack"], ("-", "bonafide"))
    return finish(pd.DataFrame({
        "utt_id": t["trial"],
        "subset": t["subset"],
        "path": flac_paths(root, "LA", t["trial"], recipe),
        "label": t["key"],
        "label_raw": t["key"],
        "artifact": attack.map(ASVSPOOF2019_KINDS).fillna("unknown").where(spoof),
        "generator": attack.where(spoof),
        "language": "eng",
        "speaker": t["speaker"],
        "source_corpus": "asvspoof2019_la",
        "codec": _none(t["codec"], ("none", "-")),
        "codec_quality": _none(t["transmission"], ("none", "-")),
    }))


def _df_codec(codec: pd.Series) -> tuple[pd.Series, pd.Series]:
    """``low_mp3`` -> (mp3, low); ``mp3m4a`` -> (mp3m4a, null); ``nocodec`` -> (null, null)."""
    parts = codec.str.extract(r"^(low|high)_(.+)$")
    name = parts[1].fillna(codec)
    return _none(name, ("nocodec", "none", "-")), parts[0]


def read_df(root: Path, options: dict, recipe) -> pd.DataFrame:
    root = Path(root)
    _path, t = _keys(root, "DF", recipe)
    spoof = t["key"] == "spoof"
    attack = _none(t["attack"], ("-", "bonafide"))
    source = t["source"]
    from_asvspoof = source == "asvspoof"
    generator = attack.where(from_asvspoof, source + "_" + attack).where(spoof)
    artifact = attack.map(ASVSPOOF2019_KINDS).where(from_asvspoof,
                                                    "vc").fillna("unknown").where(spoof)
    language = pd.Series("eng", index=t.index, dtype="string")
    target = t["speaker"].str.slice(0, 2).map(VCC2020_TARGET_LANGUAGES)
    own_voice = (source == "vcc2020") & ~spoof & target.notna()
    language[own_voice] = target[own_voice]
    codec, quality = _df_codec(t["codec"])
    return finish(pd.DataFrame({
        "utt_id": t["trial"],
        "subset": t["subset"],
        "path": flac_paths(root, "DF", t["trial"], recipe),
        "label": t["key"],
        "label_raw": t["key"],
        "artifact": artifact,
        "generator": generator,
        "language": language,
        "speaker": t["speaker"],
        "source_corpus": source.map(DF_SOURCES).fillna(source),
        "codec": codec,
        "codec_quality": quality,
    }))
