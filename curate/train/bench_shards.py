"""``curate bench loader --shards``: reading training items from shards vs one file each.

The same synthetic clips are read two ways, each through the training CPU stage
(:class:`~curate.train.data.dataset.CropStage`: a random ``crop_seconds`` window,
resampled to ``sample_rate``) by a DataLoader with ``workers`` processes:

- **shards**: written once by the shard writer (:func:`curate.shard.write_folder`,
  FLAC, 16-bit), read as a :class:`~curate.train.data.shards.ShardStream` (sequential
  tar reads with webdataset, shuffle buffer, window decode from memory);
- **files**: the map-style :class:`~curate.train.data.CropDataset` in a random order
  (:class:`~curate.train.data.EpochBatchSampler`): one open and seek per item.

Both deliver the same number of items of the same length through the same stage;
each pass is timed from its first batch (worker start-up excluded). The two sides run
``repeats`` times, alternating which goes first; the figures are the medians of
items/s and audio-seconds/s (of delivered crops), in all and per worker, and the ratio
is the median of the repeats' shards / files ratios. Higher is better. Both the files
and the shards are read once before timing, so the page cache holds both: this
measures the read path's CPU cost, not a cold disk or a network.
"""

from __future__ import annotations

import math
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from curate.threads import torch_threads
from curate.train.bench import _write_files

__all__ = ["bench_shard_loader"]


def _timed(batches: Any, n_batches: int, sample_rate: int) -> tuple[float, int, float]:
    """``(elapsed s, items, audio s)`` of batches 2..n (the first starts the clock)."""
    start = None
    items, seconds = 0, 0.0
    for k, batch in enumerate(batches):
        if start is None:
            start = time.perf_counter()
        else:
            lengths = batch.lengths if hasattr(batch, "lengths") else batch[1]
            items += int(lengths.numel())
            seconds += float(lengths.sum()) / sample_rate
        if k + 1 >= n_batches:
            break
    return time.perf_counter() - start, items, seconds


def bench_shard_loader(files: int = 48, seconds: float = 8.0, crop_seconds: float = 4.0, *,
                       workers: int = 1, batch_size: int = 16, epochs: int = 3,
                       source_rate: int = 16000, sample_rate: int = 16000,
                       buffer: int = 100, chain: Any = None, threads: int | None = 1,
                       repeats: int = 5, seed: int = 0,
                       workdir: str | Path | None = None) -> dict[str, Any]:
    """Shard streaming vs random file access on the same clips (see the module doc).

    Args:
        files: synthetic clips (noise) of ``seconds`` s at ``source_rate`` Hz, FLAC.
        crop_seconds: the training crop, seconds.
        workers: DataLoader worker processes (0: the main process).
        batch_size: items per batch.
        epochs: about how many times the clips are read (sets the batches timed).
        sample_rate: the rate delivered, Hz.
        buffer: the shard stream's shuffle buffer (items).
        chain: an augmentation chain (object or file) whose CPU steps run per item on
            both sides, or None.
        threads: torch threads of the main process (1: collation in the main process is
            not slowed by thread contention on a busy machine; workers use 1 anyway).
        repeats: timed passes of each side, alternating (>= 1).
        seed: clips, crops and orders.

    Returns:
        dict: ``value`` (shards, audio-s/s per worker), ``baseline`` (files, same unit),
        ``ratio``, items/s and audio-s/s of each side in all (medians), every repeat's
        ratio, and the set-up.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    if isinstance(chain, (str, Path)):
        from curate.augment.chain.parse import load_chain

        chain = load_chain(chain)
    with torch_threads(threads) as used:
        result = _run(files, seconds, crop_seconds, workers, batch_size, epochs, source_rate,
                      sample_rate, buffer, chain, repeats, seed, workdir)
    return dict(result, threads=used,
                chain=getattr(chain, "source", None) if chain is not None else None)


def _run(files: int, seconds: float, crop_seconds: float, workers: int, batch_size: int,
         epochs: int, source_rate: int, sample_rate: int, buffer: int, chain: Any,
         repeats: int, seed: int, workdir: str | Path | None) -> dict[str, Any]:
    from curate.shard import ShardSize, write_folder
    from curate.train.data import (CropDataset, CropStage, EpochBatchSampler, ShardFeed,
                                   ShardSource, ShardStream, collate)

    readers = max(1, workers)
    n_shards = 4 * readers
    n_batches = max(2, epochs * files // batch_size)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        paths = _write_files(Path(tmp), files, seconds, source_rate, "flac", seed)
        rows = [{"utt_id": f"bench:clip{i:04d}", "split": "train", "abspath": p,
                 "label": "bonafide" if i % 2 else "spoof", "corpus": "bench",
                 "language": "und", "generator": None, "speaker": None, "weight": 1.0,
                 "duration_s": seconds, "sample_rate": source_rate, "channels": 1}
                for i, p in enumerate(paths)]
        folder = Path(tmp) / "shards"
        write_folder(rows, folder, selection="bench", spec_hash="-", fmt="flac",
                     size=ShardSize(items=max(1, math.ceil(files / n_shards))))
        tars = sorted(folder.rglob("*.tar"))
        shard_bytes = sum(p.stat().st_size for p in tars)
        for path in [*map(Path, paths), *tars]:  # both in the page cache
            path.read_bytes()
        stage = CropStage(sample_rate, crop_seconds, True, "fixed", (10.0, 13.0))
        source = ShardSource.open(str(folder), "train")
        labels = [i % 2 for i in range(files)]
        dataset = CropDataset(paths, labels, sample_rate=sample_rate, seconds=crop_seconds,
                              train=True, seed=seed, chain=chain)

        def shard_pass() -> tuple[float, int, float]:
            stream = ShardStream(source, stage, seed=seed, workers=workers, buffer=buffer,
                                 chain=chain)
            return _timed(iter(ShardFeed(stream, batch_size)), n_batches, sample_rate)

        def file_pass() -> tuple[float, int, float]:
            sampler = EpochBatchSampler(labels, batch_size, seed=seed, num_batches=n_batches)
            loader = torch.utils.data.DataLoader(dataset, batch_sampler=sampler,
                                                 collate_fn=collate, num_workers=workers,
                                                 generator=torch.Generator().manual_seed(seed))
            return _timed(loader, n_batches, sample_rate)

        shard_runs, file_runs = [], []
        for r in range(repeats):  # alternate which side goes first
            for side in ((shard_pass, file_pass) if r % 2 == 0 else (file_pass, shard_pass)):
                (shard_runs if side is shard_pass else file_runs).append(side())
    rate = {"items": lambda run: run[1] / run[0], "audio": lambda run: run[2] / run[0]}
    shards_total = statistics.median(map(rate["audio"], shard_runs))
    files_total = statistics.median(map(rate["audio"], file_runs))
    ratios = [rate["audio"](a) / rate["audio"](b) for a, b in zip(shard_runs, file_runs)]
    return {
        "name": "loader_shards", "value": shards_total / readers,
        "unit": "audio-s/s per worker", "baseline": files_total / readers,
        "ratio": statistics.median(ratios), "ratios": ratios, "repeats": repeats,
        "shards_items_per_s": statistics.median(map(rate["items"], shard_runs)),
        "shards_audio_s_per_s": shards_total,
        "files_items_per_s": statistics.median(map(rate["items"], file_runs)),
        "files_audio_s_per_s": files_total,
        "workers": workers, "files": files, "seconds": seconds, "crop_seconds": crop_seconds,
        "batch_size": batch_size, "batches_timed": n_batches - 1, "shards": n_shards,
        "shard_mb": shard_bytes / 1e6, "buffer": buffer, "source_rate": source_rate,
        "sample_rate": sample_rate, "format": "flac",
        "cpu": platform.processor() or platform.machine(),
    }
