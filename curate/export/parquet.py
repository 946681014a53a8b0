"""The selection joined with its utterance rows, as Parquet partitioned by split.

Files: ``data/split=SPLIT/part-00000.parquet`` (Hive partitioning: the ``split``
column comes from the folder name; under ``data/`` so that readers of the folder do
not meet the README). Columns: every row column of
:data:`curate.export.common.ROW_COLUMNS` but ``split`` (``path`` is the path as
written: absolute or relative to ``path_root``).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from curate.export.common import ROW_COLUMNS, ExportJob, Writer, arrow_type, batched

COLUMNS = tuple(c for c in ROW_COLUMNS if c != "split")
_ROWS_PER_GROUP = 50_000


def schema() -> pa.Schema:
    return pa.schema([pa.field(c, arrow_type(c)) for c in COLUMNS])


def write(job: ExportJob) -> None:
    target = schema()
    for split in job.splits:
        with pq.ParquetWriter(job.file(f"data/split={split}/part-00000.parquet"), target) as writer:
            wrote = False
            for chunk in batched(job.rows(split), _ROWS_PER_GROUP):
                records = [job.record(row) for row in chunk]
                writer.write_table(pa.Table.from_pylist(records, schema=target))
                wrote = True
            if not wrote:
                writer.write_table(target.empty_table())


WRITER = Writer(
    name="parquet", write=write, audio="paths",
    description="The selection joined with its utterance rows, Parquet partitioned by "
                "split (Hive layout).",
    usage="""
```python
import pyarrow.dataset as ds
table = ds.dataset("{out}/data", format="parquet", partitioning="hive").to_table()
# pandas: pd.read_parquet("{out}/data")
# DuckDB: SELECT * FROM read_parquet('{out}/data/*/*.parquet', hive_partitioning = true)
```
""")
