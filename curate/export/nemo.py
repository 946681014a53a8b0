"""NeMo manifests: one JSON object per line, per split (``SPLIT_manifest.jsonl``).

Keys NeMo reads: ``audio_filepath``, ``duration`` (seconds), ``text`` (the transcript,
``""`` when the corpus has none), ``lang`` (ISO 639-3) and ``label``
(``bonafide``/``spoof``); every other column of the row follows as an extra key
(NeMo ignores keys it does not know).
"""

from __future__ import annotations

from curate.export.common import ExportJob, Writer, json_line

_RENAMED = {"path": "audio_filepath", "duration_s": "duration", "transcript": "text",
            "language": "lang", "label": "label"}


def entry(job: ExportJob, row: dict) -> dict:
    record = job.record(row)
    item = {"audio_filepath": record["path"], "duration": record["duration_s"],
            "text": record["transcript"] or "", "lang": record["language"],
            "label": record["label"]}
    item.update({k: v for k, v in record.items() if k not in _RENAMED})
    return item


def write(job: ExportJob) -> None:
    for split in job.splits:
        with open(job.file(f"{split}_manifest.jsonl"), "w", encoding="utf-8",
                  newline="\n") as out:
            for row in job.rows(split):
                out.write(json_line(entry(job, row)) + "\n")


WRITER = Writer(
    name="nemo", write=write, audio="paths",
    description="NeMo JSON-lines manifests per split (`audio_filepath`, `duration`, `text`, "
                "`lang`, `label`, then the other columns).",
    usage="""
```yaml
# a NeMo data config
manifest_filepath: {out}/{split}_manifest.jsonl
labels: [bonafide, spoof]
```
""")
