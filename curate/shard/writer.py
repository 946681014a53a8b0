"""Write planned shards: decode, transcode, tar; resumable, in parallel, every item counted.

A shard is a tar file in the WebDataset layout, two members per item sharing a key:
``KEY.flac`` (or ``KEY.wav``: the item's audio, decoded with
:func:`curate.audio.decode.read_audio`, resampled to ``sample_rate`` when given,
encoded as 16-bit PCM with soundfile) and ``KEY.json``::

    {"utt_id": "c:x", "split": "train", "label": "spoof", "corpus": "c",
     "language": "eng", "generator": "c:A07", "speaker": "s1", "weight": 1.0,
     "duration": 3.1, "sample_rate": 16000, "channels": 1, "num_samples": 49600,
     "key": "c%3Ax", "audio": "c%3Ax.flac"}

(``duration`` in seconds of the stored audio). Keys are the utt_ids percent-encoded
without dots, as `curate export --format webdataset` writes them. Members have fixed
owner, mode and time, so the same plan gives byte-identical shards.

Each shard is written to ``NAME.tmp`` and renamed when complete; its index entry is
then appended to ``.index.jsonl`` (see :mod:`curate.shard.index`; ``index.json`` lists
every shard at the end). A killed run leaves finished shards (in
the index) and at most one temporary file per job; the next run removes the
temporary files and writes only the shards the index does not hold. An item whose
audio cannot be decoded is listed under its shard's ``unreadable`` (and in the
manifest), never silently dropped.
"""

from __future__ import annotations

import io
import math
import multiprocessing as mp
import os
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from curate.errors import CurateError
from curate.shard import index as shard_index
from curate.shard.plan import FORMATS, PlannedShard, ShardSize, plan_hash, plan_shards

Progress = Callable[[int, int], None]
#: How shards get written: ``run(tasks, jobs)`` yields the index entry of each task
#: (``(shard, out folder, format, sample_rate)``, what :func:`write_shard` takes) as it
#: finishes, in any order. The default, :func:`write_tasks`, is a process pool;
#: :func:`curate.shard.ray_writer.ray_runner` runs the same :func:`write_shard` on Ray Data.
RunShards = Callable[[list[tuple], int], Iterator[dict]]

_PCM16_MAX = 32767 / 32768

#: Row columns written to each item's JSON (besides the facts of the stored audio).
META_COLUMNS = ("utt_id", "split", "label", "corpus", "language", "generator", "speaker",
                "weight")


@dataclass(frozen=True)
class ShardSummary:
    """What a ``curate shard`` run left in ``out``.

    Attributes:
        out: the shard folder.
        manifest: ``manifest.json`` as written (selection, spec_hash, per split counts,
            unreadable items).
        written: shards written by this call.
        reused: shards a previous (interrupted) run had finished.
    """

    out: Path
    manifest: dict
    written: int
    reused: int

    @property
    def shards(self) -> int:
        return sum(int(s["shards"]) for s in self.manifest["splits"].values())


# ------------------------------------------------------------------------- one shard


def encode_item(path: str, fmt: str, sample_rate: int | None) -> tuple[bytes, dict]:
    """Decode ``path`` (soundfile, PyAV fallback), resample to ``sample_rate`` (None:
    keep the file's rate), encode 16-bit PCM ``fmt`` (flac or wav).

    Returns:
        ``(bytes, facts)`` with facts ``sample_rate`` (Hz), ``channels``,
        ``num_samples`` (frames) and ``duration`` (seconds) of the stored audio.

    Raises:
        ValueError: the audio is empty or holds NaN or inf samples.
        AudioReadError: neither decoder reads the file.
    """
    from curate.audio.decode import read_audio
    from curate.export.common import resample

    x, rate = read_audio(path)
    if x.shape[0] == 0:
        raise ValueError("the file has 0 samples")
    bad = int(x.size - np.isfinite(x).sum())
    if bad:
        raise ValueError(f"{bad} of {x.size} samples are NaN or inf")
    out_rate = int(sample_rate or rate)
    y = np.clip(resample(x, rate, out_rate), -1.0, _PCM16_MAX)
    buffer = io.BytesIO()
    sf.write(buffer, y, out_rate, format=fmt.upper(), subtype="PCM_16")
    facts = {"sample_rate": out_rate, "channels": int(y.shape[1]),
             "num_samples": int(y.shape[0]), "duration": y.shape[0] / out_rate}
    return buffer.getvalue(), facts


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    info.mode = 0o644
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


def _plain(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def _group(value: Any) -> str:
    value = _plain(value)
    return shard_index.NONE if value is None or value == "" else str(value)


def write_shard(task: tuple[PlannedShard, str, str, int | None]) -> dict:
    """Write one planned shard (a process-pool task); returns its index entry.

    ``task`` is ``(shard, out folder, format, sample_rate)``. The tar goes to
    ``NAME.tmp`` first and is renamed when complete.
    """
    import json

    from curate.export.webdataset import sample_key

    shard, out, fmt, sample_rate = task
    target = Path(out) / shard.name
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    groups: dict[str, dict[str, int]] = {c: {} for c in shard_index.GROUP_COLUMNS}
    unreadable: list[dict] = []
    items, seconds, weight_sum = 0, 0.0, 0.0
    with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
        for row in shard.rows:
            try:
                audio, facts = encode_item(row["abspath"], fmt, sample_rate)
            except Exception as exc:  # noqa: BLE001 - any unreadable file is listed
                reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                unreadable.append({"utt_id": row["utt_id"], "reason": reason})
                continue
            key = sample_key(row["utt_id"])
            record = {c: _plain(row.get(c)) for c in META_COLUMNS}
            record.update(facts, key=key, audio=f"{key}.{fmt}")
            _add(tar, f"{key}.{fmt}", audio)
            _add(tar, f"{key}.json", json.dumps(record, ensure_ascii=False,
                                                separators=(",", ":")).encode("utf-8"))
            items += 1
            seconds += facts["duration"]
            weight = _plain(row.get("weight"))
            weight_sum += 1.0 if weight is None else float(weight)
            for column in shard_index.GROUP_COLUMNS:
                value = _group(row.get(column))
                groups[column][value] = groups[column].get(value, 0) + 1
    os.replace(tmp, target)
    return {"name": shard.name, "split": shard.split, "number": shard.number,
            "planned": len(shard.rows), "items": items, "seconds": seconds,
            "bytes": target.stat().st_size, "groups": groups, "weight_sum": weight_sum,
            "unreadable": unreadable}


def init_worker() -> None:
    """Set up a process that writes shards: one thread for torch (one process per job:
    no oversubscribed cores)."""
    import torch

    torch.set_num_threads(1)


def write_tasks(tasks: list[tuple], jobs: int) -> Iterator[dict]:
    """:data:`RunShards` on this machine: :func:`write_shard` in this process (one job
    or one task) or in a pool of ``jobs`` processes."""
    if jobs <= 1 or len(tasks) < 2:
        yield from map(write_shard, tasks)
        return
    ctx = mp.get_context("spawn") if os.environ.get("CURATE_MP_SPAWN") else mp.get_context()
    with ctx.Pool(processes=min(jobs, len(tasks)), initializer=init_worker) as pool:
        yield from pool.imap_unordered(write_shard, tasks, chunksize=1)


# ----------------------------------------------------------------------- the folder


def _check_out(out: Path, header: dict) -> list[dict]:
    """The finished shards a previous run of the same plan left in ``out`` (none for a
    new or empty folder); removes its temporary files.

    Raises:
        CurateError: ``out`` is a file, holds something else, or shards of another plan.
    """
    if out.exists() and not out.is_dir():
        raise CurateError(f"--out {out} is a file; pass a folder")
    if not out.exists() or not any(out.iterdir()):
        return []
    previous = shard_index.read_json(str(out), shard_index.INDEX)
    if previous is None:
        raise CurateError(f"--out {out} is not empty and holds no curate shards (no "
                          f"{shard_index.INDEX}); choose a new or empty folder")
    differ = [k for k in ("selection", "spec_hash", "options", "plan_hash")
              if previous.get(k) != header[k]]
    if differ:
        raise CurateError(f"--out {out} holds shards of selection "
                          f"{previous.get('selection')!r} planned otherwise (differs in "
                          f"{', '.join(differ)}); finish them with the same selection and "
                          f"options, or write to a new folder")
    for stale in out.rglob("*.tmp"):
        stale.unlink()
    entries = {e["name"]: e for e in previous.get("shards", []) +
               shard_index.read_journal(str(out))}
    return [e for e in entries.values()
            if (out / e["name"]).is_file() and (out / e["name"]).stat().st_size == e["bytes"]]


def _planned(shards: list[PlannedShard]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for shard in shards:
        entry = out.setdefault(shard.split, {"items": 0, "shards": 0})
        entry["items"] += len(shard.rows)
        entry["shards"] += 1
    return out


def write_folder(rows: list[dict], out: Path | str, *, selection: str, spec_hash: str,
                 size: ShardSize, fmt: str = "flac", sample_rate: int | None = None,
                 jobs: int = 1, seed: int = 0, selected: dict[str, int] | None = None,
                 unavailable: dict[str, dict[str, int]] | None = None,
                 catalog: str | None = None, command: str = "",
                 progress: Progress | None = None,
                 run: RunShards | None = None) -> ShardSummary:
    """Plan and write the shards of ``rows`` to ``out``, resuming a previous run there.

    Args:
        rows: the items (``utt_id``, ``split``, ``abspath``, ``label``, ``corpus``,
            ``language``, ``generator``, ``speaker``, ``weight``, ``duration_s``,
            ``sample_rate``, ``channels``).
        out: the shard folder (new, empty, or holding an interrupted run of this plan).
        selection, spec_hash: what the rows are (recorded in the index and manifest).
        size: items or about bytes per shard.
        fmt: ``flac`` or ``wav`` (16-bit PCM either way).
        sample_rate: resample to this rate in Hz (None: keep each file's).
        jobs: worker processes.
        seed: the item shuffle's seed (see :mod:`curate.shard.plan`).
        selected: items per split of the selection, all statuses (default: the rows).
        unavailable: per split, items left out because their status is not ok.
        catalog, command: recorded in the manifest.
        progress: ``callback(items done, items planned)``, after each shard.
        run: how the shards are written (:data:`RunShards`; default
            :func:`write_tasks`, ``jobs`` processes on this machine). Whatever runs
            them, this process alone writes the index, journal and manifest.

    Returns:
        :class:`ShardSummary`.
    """
    if fmt not in FORMATS:
        raise CurateError(f"--format {fmt!r} is not a shard audio format; use one of "
                          f"{', '.join(FORMATS)}")
    if sample_rate is not None and not 1000 <= sample_rate <= 384_000:
        raise CurateError(f"--sample-rate {sample_rate} is not a plausible rate in Hz; use "
                          f"e.g. 16000")
    if jobs < 1:
        raise CurateError(f"--jobs must be at least 1, got {jobs}")
    out = Path(out).expanduser().resolve()
    options = {"format": fmt, "sample_rate": sample_rate, "shard_items": size.items,
               "shard_bytes": size.bytes, "seed": seed}
    shards = plan_shards(rows, size, fmt=fmt, sample_rate=sample_rate, seed=seed)
    planned = _planned(shards)
    header = {"format": shard_index.FORMAT, "version": shard_index.VERSION,
              "selection": selection, "spec_hash": spec_hash, "options": options,
              "plan_hash": plan_hash(shards, options), "planned": planned}
    finished = {e["name"]: e for e in _check_out(out, header)}
    out.mkdir(parents=True, exist_ok=True)
    reused = len(finished)
    total = sum(p["items"] for p in planned.values())
    done = sum(int(e["planned"]) for e in finished.values())
    if progress:
        progress(done, total)
    tasks = [(s, str(out), fmt, sample_rate) for s in shards if s.name not in finished]

    def write_index() -> None:
        shard_index.write_json(out, shard_index.INDEX, dict(
            header, shards=sorted(finished.values(), key=lambda e: e["name"])))

    write_index()  # the plan, and the shards a previous run finished
    (out / shard_index.JOURNAL).unlink(missing_ok=True)
    for entry in (run or write_tasks)(tasks, jobs):
        finished[entry["name"]] = entry
        shard_index.append_journal(out, entry)  # constant cost per shard
        done += int(entry["planned"])
        if progress:
            progress(done, total)
    write_index()
    (out / shard_index.JOURNAL).unlink(missing_ok=True)
    manifest = _manifest(header, list(finished.values()), selected, unavailable or {},
                         catalog, command)
    shard_index.write_json(out, shard_index.MANIFEST, manifest)
    return ShardSummary(out, manifest, len(tasks), reused)


def _manifest(header: dict, entries: list[dict], selected: dict[str, int] | None,
              unavailable: dict[str, dict[str, int]], catalog: str | None,
              command: str) -> dict:
    from curate import __version__

    splits: dict[str, dict] = {}
    names = set(header["planned"]) | set(selected or {}) | set(unavailable)
    unreadable = []
    for split in sorted(names):
        mine = [e for e in entries if e["split"] == split]
        written = sum(int(e["items"]) for e in mine)
        failed = sum(len(e["unreadable"]) for e in mine)
        left_out = sum(unavailable.get(split, {}).values())
        planned = header["planned"].get(split, {}).get("items", 0)
        if written + failed != planned:
            raise AssertionError(f"split {split}: {written} written + {failed} unreadable "
                                 f"!= {planned} planned")
        splits[split] = {
            "selected": (selected or {}).get(split, planned + left_out),
            "unavailable": left_out, "planned": planned, "written": written,
            "unreadable": failed, "shards": len(mine),
            "seconds": sum(float(e["seconds"]) for e in mine)}
        unreadable += [dict(u, split=split, shard=e["name"])
                       for e in sorted(mine, key=lambda e: e["name"]) for u in e["unreadable"]]
    statuses: dict[str, int] = {}
    for counts in unavailable.values():
        for status, n in counts.items():
            statuses[status] = statuses.get(status, 0) + int(n)
    return {"format": header["format"], "version": header["version"], "complete": True,
            "selection": header["selection"], "spec_hash": header["spec_hash"],
            "options": header["options"], "plan_hash": header["plan_hash"],
            "catalog": catalog, "curate": __version__, "command": command,
            "splits": splits, "unavailable": statuses, "unreadable": unreadable}
