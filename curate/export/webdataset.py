"""WebDataset shards: tar files of ``shard_size`` samples per split.

Files: ``SPLIT/SPLIT-000000.tar``, ``SPLIT/SPLIT-000001.tar``, ... Each sample is two
members sharing a key: ``KEY.EXT`` (the audio bytes as stored, or 16-bit WAV with
``sample_rate``) and ``KEY.json`` (the row: every column, ``key`` and ``utt_id``).

WebDataset splits a member name at the first dot of its base name, so a key must
hold no dot (nor a slash). Keys are the utt_ids percent-encoded: every byte but
ASCII letters, digits, ``-`` and ``_`` becomes ``%XX`` (``demo:a.b`` ->
``demo%3Aa%2Eb``); ``urllib.parse.unquote(key)`` gives the utt_id back, and the JSON
holds both. Members are written with fixed owner, mode and time, so the same
selection gives byte-identical shards.
"""

from __future__ import annotations

import io
import tarfile

from curate.export.common import ExportJob, Writer, batched, escape, json_line


def sample_key(utt_id: str) -> str:
    return escape(utt_id, keep="-_").replace(".", "%2E")


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    info.mode = 0o644
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


def write(job: ExportJob) -> None:
    for split in job.splits:
        for i, shard in enumerate(batched(job.samples(split), job.options.shard_size)):
            path = job.file(f"{split}/{split}-{i:06d}.tar")
            with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
                for row, audio, ext in shard:
                    key = sample_key(row["utt_id"])
                    record = job.record(row)
                    record["key"] = key
                    record["audio"] = f"{key}.{ext}"
                    _add(tar, f"{key}.{ext}", audio)
                    _add(tar, f"{key}.json", json_line(record).encode("utf-8"))


WRITER = Writer(
    name="webdataset", write=write, audio="embedded",
    description="WebDataset tar shards per split; each sample is the audio plus a JSON of "
                "its row (keys are percent-encoded utt_ids, without dots).",
    usage="""
```python
import glob, json, webdataset as wds
shards = sorted(glob.glob("{out}/{split}/{split}-*.tar"))
for sample in wds.WebDataset(shards, shardshuffle=False):
    meta = json.loads(sample["json"])  # meta["utt_id"], meta["label"], ...
```
""")
