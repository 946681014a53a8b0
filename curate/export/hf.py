"""A Hugging Face dataset: Parquet files under ``data/`` in the Hub's layout.

Files: ``data/SPLIT-00000-of-0000N.parquet`` (``shard_size`` rows per file), which
``datasets.load_dataset(OUT)`` maps to splits by name. Columns:

- ``audio``: the struct ``{bytes, path}`` the ``datasets`` ``Audio`` feature stores:
  a path (absolute or relative to ``path_root``) by default; the file's bytes (and
  its base name) with ``copy_audio``, transcoded to 16-bit WAV with ``sample_rate``;
- ``label``: ``ClassLabel(names=["spoof", "bonafide"])``, so 1 = bonafide as in training;
- the other row columns (strings, ``float64``, ``int64``).

The ``datasets`` features are stored in each file's schema metadata (key
``huggingface``), so ``datasets`` decodes ``audio`` as Audio and ``label`` as a
ClassLabel without ``datasets`` being needed to write them.
"""

from __future__ import annotations

import json
import os

import pyarrow as pa
import pyarrow.parquet as pq

from curate.export.common import ROW_COLUMNS, ExportJob, Writer, arrow_type, batched

#: ``ClassLabel`` names: index 0 = spoof, 1 = bonafide (curate.train's convention).
LABEL_NAMES = ("spoof", "bonafide")
COLUMNS = tuple(c for c in ROW_COLUMNS if c not in ("path", "label"))
_AUDIO = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
_ROW_GROUP_EMBEDDED = 100  # rows per row group when audio bytes are embedded


def features() -> dict:
    """The ``datasets`` ``Features.to_dict()`` of the written columns."""
    feats: dict = {"audio": {"_type": "Audio"},
                   "label": {"names": list(LABEL_NAMES), "_type": "ClassLabel"}}
    names = {pa.string(): "string", pa.float64(): "float64", pa.int64(): "int64"}
    for column in COLUMNS:
        feats[column] = {"dtype": names[arrow_type(column)], "_type": "Value"}
    return feats


def schema() -> pa.Schema:
    fields = [pa.field("audio", _AUDIO), pa.field("label", pa.int64())]
    fields += [pa.field(c, arrow_type(c)) for c in COLUMNS]
    meta = {"huggingface": json.dumps({"info": {"features": features()}})}
    return pa.schema(fields, metadata=meta)


def _table(job: ExportJob, items: list[tuple[dict, bytes | None, str | None]],
           target: pa.Schema) -> pa.Table:
    data: dict[str, list] = {"audio": [], "label": []}
    for column in COLUMNS:
        data[column] = []
    for row, audio, ext in items:
        record = job.record(row)
        if audio is None:
            data["audio"].append({"bytes": None, "path": record["path"]})
        else:
            stem = os.path.splitext(os.path.basename(row["rel_path"] or row["utt_id"]))[0]
            data["audio"].append({"bytes": audio, "path": f"{stem}.{ext}"})
        data["label"].append(LABEL_NAMES.index(record["label"]))
        for column in COLUMNS:
            data[column].append(record[column])
    return pa.Table.from_pydict(data, schema=target)


def write(job: ExportJob) -> None:
    target = schema()
    size = job.options.shard_size
    group = _ROW_GROUP_EMBEDDED if job.embeds else 10_000
    for split in job.splits:
        items = job.samples(split) if job.embeds else ((r, None, None) for r in job.rows(split))
        parts = []
        for shard in batched(items, size):
            path = job.file(f"data/{split}-{len(parts):05d}.parquet.partial")
            with pq.ParquetWriter(path, target) as writer:
                for chunk in batched(iter(shard), group):
                    writer.write_table(_table(job, chunk, target))
            parts.append(path)
        if not parts:  # every row skipped: keep the split, empty
            path = job.file(f"data/{split}-00000.parquet.partial")
            pq.write_table(target.empty_table(), path)
            parts.append(path)
        for i, path in enumerate(parts):
            path.rename(path.with_name(f"{split}-{i:05d}-of-{len(parts):05d}.parquet"))


WRITER = Writer(
    name="hf", write=write, audio="embedded_with_copy",
    description="A Hugging Face dataset: Parquet shards under data/ with an `audio` column "
                "(Audio feature) and a `label` ClassLabel (0 = spoof, 1 = bonafide).",
    usage="""
```python
import datasets
ds = datasets.load_dataset("{out}")  # or load_dataset("parquet", data_dir="{out}/data")
ds["{split}"].features["label"].int2str(1)  # 'bonafide'
```
""")
