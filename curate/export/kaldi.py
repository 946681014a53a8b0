"""Kaldi data directories, one per split: ``SPLIT/wav.scp``, ``utt2spk``, ``spk2utt``,
``utt2lang``, ``utt2label``, ``utt2dur`` (and ``text`` when every row has a transcript).

Kaldi wants ids without whitespace, every file sorted (C locale) on the same
utterance list, and ``utt2spk`` in the same order whether sorted by utterance or by
speaker (``utils/validate_data_dir.sh`` checks all of it). So:

- speaker ids are ``CORPUS.SPEAKER`` with every character of SPEAKER outside
  ``[A-Za-z0-9_.]`` replaced by ``_``; rows without a speaker are their own speaker
  (Kaldi's convention), with id ``CORPUS.UTT``;
- utterance ids are ``SPEAKER_ID-ID`` (the speaker id, ``-``, then the utt_id without
  its corpus namespace, ``:`` replaced by ``-`` and whitespace by ``_``); a row without
  a speaker has utterance id = speaker id.

Because ``-`` sorts before every character a speaker id can hold, sorting by
utterance id also sorts by speaker. Where the replacements make two ids equal, both
get a short hash suffix. ``utt2id`` maps each Kaldi id back to the catalog's utt_id.
``wav.scp`` holds the path for WAV files and an ``ffmpeg ... |`` pipe for other
formats (Kaldi reads only WAV); export with ``--sample-rate`` to get plain WAV files.
"""

from __future__ import annotations

import hashlib
import re
import shlex
from collections import defaultdict

from curate.export.common import ExportJob, Writer, local_id

_SPEAKER_CHARS = re.compile(r"[^A-Za-z0-9_.]")


def _short_hash(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=4).hexdigest()


def _unique(ids: dict[tuple, str]) -> dict[tuple, str]:
    """Add a hash suffix to every id that two different keys share."""
    owners: dict[str, list] = defaultdict(list)
    for key, value in ids.items():
        owners[value].append(key)
    return {key: (value if len(owners[value]) == 1 else f"{value}_{_short_hash(repr(key))}")
            for key, value in ids.items()}


def wav_entry(path: str, fmt: str | None) -> str:
    """The rxfilename of ``path``: the path itself for WAV, else an ffmpeg pipe."""
    if (fmt or "").lower() == "wav" and path.lower().endswith(".wav") and " " not in path \
            and not any(ch.isspace() for ch in path):
        return path
    return (f"ffmpeg -nostdin -loglevel error -i {shlex.quote(path)} -f wav "
            f"-acodec pcm_s16le - |")


def _utt_part(row: dict) -> str:
    """The utt_id without its corpus namespace, ``:`` -> ``-``, whitespace -> ``_``."""
    return "_".join(local_id(row["utt_id"], row["corpus"]).replace(":", "-").split())


def kaldi_ids(rows: list[dict]) -> tuple[list[str], list[str]]:
    """Kaldi (utterance id, speaker id) of each row, unique and order-consistent."""
    spk_wanted: dict[tuple, str] = {}
    keys = []
    for row in rows:
        corpus = row["corpus"] or "unknown"
        local = local_id(row["utt_id"], corpus)
        speaker = None if row["speaker"] is None else str(row["speaker"]).strip() or None
        key = (corpus, speaker, None if speaker else row["utt_id"])
        spk_wanted[key] = f"{corpus}.{_SPEAKER_CHARS.sub('_', speaker or local)}"
        keys.append(key)
    speakers = _unique(spk_wanted)
    spk_ids = [speakers[key] for key in keys]
    # Rows with a speaker: SPEAKER_ID-ID (these hold a '-', speaker ids never do, so
    # they cannot meet the ids of rows without a speaker, which are their speaker id).
    utt_wanted = {(row["utt_id"],): f"{spk}-{_utt_part(row)}"
                  for row, key, spk in zip(rows, keys, spk_ids) if key[1] is not None}
    utts = _unique(utt_wanted)
    utt_ids = [utts[(row["utt_id"],)] if key[1] is not None else spk
               for row, key, spk in zip(rows, keys, spk_ids)]
    return utt_ids, spk_ids


def _fmt_seconds(value: float) -> str:
    return f"{value:.4f}".rstrip("0").rstrip(".") or "0"


def write(job: ExportJob) -> None:
    for split in job.splits:
        rows = list(job.rows(split))
        utt_ids, spk_ids = kaldi_ids(rows)
        entries = sorted(zip(utt_ids, spk_ids, rows), key=lambda e: e[0])
        files: dict[str, list[str]] = {name: [] for name in (
            "wav.scp", "utt2spk", "utt2lang", "utt2label", "utt2dur", "utt2id")}
        spk2utt: dict[str, list[str]] = defaultdict(list)
        for utt, spk, row in entries:
            files["wav.scp"].append(f"{utt} {wav_entry(row['path'], row['format'])}")
            files["utt2spk"].append(f"{utt} {spk}")
            files["utt2lang"].append(f"{utt} {row['language'] or 'und'}")
            files["utt2label"].append(f"{utt} {row['label']}")
            files["utt2dur"].append(f"{utt} {_fmt_seconds(float(row['duration_s']))}")
            files["utt2id"].append(f"{utt} {row['utt_id']}")
            spk2utt[spk].append(utt)
        if rows and all((row["transcript"] or "").strip() for row in rows):
            files["text"] = [f"{utt} {' '.join(row['transcript'].split())}"
                             for utt, _, row in entries]
        files["spk2utt"] = [f"{spk} {' '.join(utts)}" for spk, utts in sorted(spk2utt.items())]
        for name, lines in files.items():
            job.file(f"{split}/{name}").write_text("".join(line + "\n" for line in lines),
                                                   encoding="utf-8")


WRITER = Writer(
    name="kaldi", write=write, audio="paths",
    description="Kaldi data directories per split (wav.scp, utt2spk, spk2utt, utt2lang, "
                "utt2label, utt2dur, utt2id), sorted and consistent.",
    usage="""
```sh
utils/validate_data_dir.sh --no-feats --no-text {out}/{split}
```
""")
