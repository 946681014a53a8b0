"""Lhotse manifests: a RecordingSet and a SupervisionSet per split, as jsonl.gz.

Files: ``SELECTION_recordings_SPLIT.jsonl.gz`` and ``SELECTION_supervisions_SPLIT.jsonl.gz``
(lhotse's own ``{prefix}_{type}_{part}`` naming, so ``read_manifests_if_cached``
finds them). Each line is the dict ``Recording.to_dict()`` /
``SupervisionSegment.to_dict()`` would write; lhotse itself is not needed to write them.
One supervision per recording, spanning it; labels, generator and the rest of the
row go to the supervision's ``custom``.
"""

from __future__ import annotations

import gzip
import io
from contextlib import contextmanager
from pathlib import Path

from curate.export.common import ExportJob, Writer, json_line

# Row columns that go to a supervision's ``custom`` (when not null).
CUSTOM_COLUMNS = ("label", "label_raw", "artifact", "generator", "corpus", "subset", "split",
                  "weight", "source_corpus", "source_utt", "codec", "codec_quality")


@contextmanager
def gzip_text(path: Path):
    """A text file gzip-compressed reproducibly (no name or time in the gzip header)."""
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw,
                                               mtime=0) as gz:
        with io.TextIOWrapper(gz, encoding="utf-8", newline="\n") as text:
            yield text


def recording(row: dict) -> dict:
    channels = list(range(int(row["channels"] or 1)))
    rate = int(row["sample_rate"])
    samples = int(row["num_samples"])
    return {"id": row["utt_id"],
            "sources": [{"type": "file", "channels": channels, "source": row["path"]}],
            "sampling_rate": rate, "num_samples": samples, "duration": samples / rate,
            "channel_ids": channels}


def supervision(row: dict) -> dict:
    channels = int(row["channels"] or 1)
    sup = {"id": row["utt_id"], "recording_id": row["utt_id"], "start": 0.0,
           "duration": int(row["num_samples"]) / int(row["sample_rate"]),
           "channel": 0 if channels == 1 else list(range(channels))}
    for key, column in (("text", "transcript"), ("language", "language"),
                        ("speaker", "speaker"), ("gender", "gender")):
        if row.get(column) is not None:
            sup[key] = row[column]
    sup["custom"] = {c: row[c] for c in CUSTOM_COLUMNS if row.get(c) is not None}
    return sup


def write(job: ExportJob) -> None:
    for split in job.splits:
        recs = job.file(f"{job.selection}_recordings_{split}.jsonl.gz")
        sups = job.file(f"{job.selection}_supervisions_{split}.jsonl.gz")
        with gzip_text(recs) as rec_out, gzip_text(sups) as sup_out:
            for row in job.rows(split):
                rec_out.write(json_line(recording(row)) + "\n")
                sup_out.write(json_line(supervision(row)) + "\n")


WRITER = Writer(
    name="lhotse", write=write, audio="paths",
    description="Lhotse RecordingSet and SupervisionSet manifests (jsonl.gz) per split; "
                "labels, generator and corpus facts are in each supervision's `custom`.",
    usage="""
```python
from lhotse import CutSet, load_manifest
recordings = load_manifest("{out}/{selection}_recordings_{split}.jsonl.gz")
supervisions = load_manifest("{out}/{selection}_supervisions_{split}.jsonl.gz")
# relative paths (--path-root): recordings = recordings.with_path_prefix("PATH_ROOT")
cuts = CutSet.from_manifests(recordings=recordings, supervisions=supervisions)
```
""")
