"""ASVspoof-style protocols: ``protocol_SPLIT.txt`` with one line per utterance,
``SPEAKER UTT - GENERATOR KEY``, plus ``paths_SPLIT.txt`` (``UTT PATH``).

- SPEAKER: the corpus's speaker id, ``-`` when unknown;
- UTT: the catalog's utt_id (namespaced, e.g. ``asvspoof2019_la:LA_T_1138215``);
- GENERATOR: the namespaced generator id (``asvspoof2019_la:A07``), ``-`` for bonafide
  or an unknown generator;
- KEY: ``bonafide`` or ``spoof``.

ASVspoof tools split lines on spaces, so whitespace inside any field becomes ``_``.
The tools that build a file name from UTT (``flac/UTT.flac``) should read
``paths_SPLIT.txt`` instead: ids are namespaced and files keep their own names.
"""

from __future__ import annotations

from curate.errors import CurateError
from curate.export.common import ExportJob, Writer, no_space


def protocol_line(row: dict) -> str:
    generator = row["generator"] if row["label"] == "spoof" else None
    return " ".join((no_space(row["speaker"]), no_space(row["utt_id"]), "-",
                     no_space(generator), row["label"]))


def write(job: ExportJob) -> None:
    for split in job.splits:
        seen: dict[str, str] = {}
        protocol, listing = job.file(f"protocol_{split}.txt"), job.file(f"paths_{split}.txt")
        with open(protocol, "w", encoding="utf-8", newline="\n") as proto, \
                open(listing, "w", encoding="utf-8", newline="\n") as paths:
            for row in job.rows(split):
                utt = no_space(row["utt_id"])
                if seen.setdefault(utt, row["utt_id"]) != row["utt_id"]:
                    raise CurateError(f"asvspoof export: utt_ids {seen[utt]!r} and "
                                      f"{row['utt_id']!r} differ only in whitespace, which "
                                      f"the protocol cannot hold; rename one in its recipe")
                proto.write(protocol_line(row) + "\n")
                paths.write(f"{utt} {row['path']}\n")


WRITER = Writer(
    name="asvspoof", write=write, audio="paths",
    description="ASVspoof-style protocols per split (`SPEAKER UTT - GENERATOR KEY`) and the "
                "paths of their utterances (`UTT PATH`).",
    usage="""
```python
rows = [line.split() for line in open("{out}/protocol_{split}.txt")]
paths = dict(line.rstrip("\\n").split(" ", 1) for line in open("{out}/paths_{split}.txt"))
```
""")
