"""PartialSpoof (Zhang et al.): ASVspoof 2019 LA utterances with spoofed segments spliced in.

Layout (ROOT is the ``database`` folder the Zenodo archives unpack into)::

    protocols/PartialSpoof_LA_cm_protocols/PartialSpoof.LA.cm.{train,dev,eval}.*.txt
    train/con_wav/*.wav, dev/con_wav/*.wav, eval/con_wav/*.wav
    train/con_data/rttm_2cls_0sil, dev/con_data/..., eval/con_data/...   (segment labels)

Protocol lines are the 2019 LA format ``SPEAKER UTT - SYSTEM KEY``
(``LA_0079 CON_T_0000029 - CON spoof``; bona fide utterances keep their 2019 names,
``LA_0079 LA_T_1138215 - - bonafide``).

Where a subset has no protocol (the archives unpacked without
``database_protocols.tar.gz``), its utterance list ``{subset}/con_data/{subset}.lst`` (one
id per line, as the PartialSpoof repository ships them) is read instead: ``CON_*`` ids
are spoofed (system ``CON``), ``LA_*`` ids are the bona fide ASVspoof 2019 LA
utterances; there is no speaker column.

Segment labels are read from the RTTM files the PartialSpoof metric scripts use
(``SPEAKER <utt> 1 <start> <duration> <NA> <NA> <label> <NA> <NA>``, times in
seconds, labels ``bonafide`` / ``spoof``): each line becomes one segment. Lines with
other labels (non-speech) and zero-length lines are not segments. The per-resolution
``segment_labels/*_seglab_*.npy`` arrays are not read: public descriptions disagree
on which of their two values means spoof, and the RTTM files name the class. The
option ``rttm`` (a path template under ROOT with ``{subset}``) points at other copies.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd

from curate.errors import CurateError
from curate.recipes.corpora._spoof import check_words, fields_frame, finish
from curate.recipes.corpora._common import layout_error, read_fields
from curate.recipes.engine import RecipeOutput

PROTOCOLS = "protocols/PartialSpoof_LA_cm_protocols/PartialSpoof.LA.cm.*.txt"
DEFAULT_RTTM = "{subset}/con_data/rttm_2cls_0sil"
LIST = "{subset}/con_data/{subset}.lst"
SUBSETS = ("train", "dev", "eval")
_LIST_ID = re.compile(r"^(CON|LA)_[TDE]_\d+$")
SEGMENT_LABELS = ("bonafide", "spoof")
_SUBSET = re.compile(r"\.cm\.(train|dev|eval)\.")
OPTIONS = {"rttm"}


def _protocol(path: Path) -> pd.DataFrame:
    match = _SUBSET.search(path.name)
    if not match:
        raise CurateError(f"{path}: cannot tell the subset from the name; expected "
                          f"PartialSpoof.LA.cm.<train|dev|eval>.<trn|trl>.txt")
    subset = match.group(1)
    table = fields_frame(read_fields(path, min_fields=5, max_fields=5),
                         ("speaker", "utt", "env", "system", "key"))
    check_words(table, "key", ("bonafide", "spoof"), path, "key")
    spoof = table["key"] == "spoof"
    system = table["system"].where(~table["system"].isin(("-", "bonafide")))
    from_2019 = table["utt"].str.startswith("LA_")
    return pd.DataFrame({
        "utt_id": table["utt"],
        "subset": subset,
        "path": subset + "/con_wav/" + table["utt"] + ".wav",
        "label": table["key"],
        "label_raw": table["key"],
        "artifact": pd.Series("partial", index=table.index).where(spoof),
        "generator": system.where(spoof),
        "language": "eng",
        "speaker": table["speaker"],
        "source_corpus": "asvspoof2019_la",
        # bona fide utterances are the ASVspoof 2019 LA files themselves
        "source_utt": ("asvspoof2019_la:" + table["utt"]).where(from_2019 & ~spoof),
    })


def _list(path: Path, subset: str) -> pd.DataFrame:
    """Rows of an utterance list (``CON_T_0000000`` spoofed, ``LA_T_1000406`` bona fide)."""
    lines = read_fields(path, min_fields=1, max_fields=1)
    for number, (utt,) in lines:
        if not _LIST_ID.match(utt):
            raise CurateError(f"{path}:{number}: {utt!r} is not a PartialSpoof utterance id "
                              f"(CON_T_0000000 or LA_T_1000406); the list is damaged")
    utt = pd.Series([f[0] for _n, f in lines], dtype="string")
    spoof = utt.str.startswith("CON_")
    key = pd.Series("bonafide", index=utt.index, dtype="string").where(~spoof, "spoof")
    return pd.DataFrame({
        "utt_id": utt,
        "subset": subset,
        "path": subset + "/con_wav/" + utt + ".wav",
        "label": key,
        "label_raw": key,
        "artifact": pd.Series("partial", index=utt.index).where(spoof),
        "generator": pd.Series("CON", index=utt.index).where(spoof),
        "language": "eng",
        "source_corpus": "asvspoof2019_la",
        "source_utt": ("asvspoof2019_la:" + utt).where(~spoof),
    })


def _number(text: str, path: Path, line: int) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise CurateError(f"{path}:{line}: {text!r} is not a time in seconds; an RTTM line "
                          f"is SPEAKER <utt> <channel> <start> <duration> ... <label> ...")
    return value


def read_rttm(path: Path) -> pd.DataFrame:
    """Segments (utt_id, start_s, end_s, label) of one RTTM file."""
    rows = []
    for line, fields in read_fields(path, min_fields=8):
        label = fields[7]
        if label not in SEGMENT_LABELS:
            continue
        start = _number(fields[3], path, line)
        duration = _number(fields[4], path, line)
        if duration <= 0:
            continue
        rows.append((fields[1], start, round(start + duration, 5), label))
    return pd.DataFrame(rows, columns=["utt_id", "start_s", "end_s", "label"])


def read(root: Path, options: dict, recipe) -> RecipeOutput:
    """Rows of the CM protocols and the segments of the RTTM files present."""
    root = Path(root)
    unknown = sorted(set(options) - OPTIONS)
    if unknown:
        raise CurateError(f"{recipe.source}: unknown option(s) {', '.join(unknown)}; "
                          f"allowed: {', '.join(sorted(OPTIONS))}")
    parts = [_protocol(p) for p in sorted(root.glob(PROTOCOLS))]
    covered = {str(part["subset"].iloc[0]) for part in parts if len(part)}
    for subset in SUBSETS:
        listed = root / LIST.format(subset=subset)
        if subset not in covered and listed.is_file():
            parts.append(_list(listed, subset))
    if not parts:
        raise layout_error(recipe, root, f"no {PROTOCOLS} (nor {LIST})")
    rows = finish(pd.concat(parts, ignore_index=True))
    template = str(options.get("rttm", DEFAULT_RTTM))
    segments = []
    for subset in sorted(rows["subset"].unique()):
        rttm = root / template.format(subset=subset)
        if rttm.is_file():
            segments.append(read_rttm(rttm))
    if not segments:
        return RecipeOutput(rows)
    return RecipeOutput(rows, pd.concat(segments, ignore_index=True))
