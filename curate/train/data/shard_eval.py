"""Scoring from shards: every item of a split once (:class:`ShardEvalStream`), each clip
through the eval-mode CPU stage, and its collation (:func:`collate_eval`)."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Sequence

import torch

from curate.train.data.dataset import CropStage
from curate.train.data.shard_source import ShardSource
from curate.train.data.shards import read_clip, shard_samples

__all__ = ["ShardEvalStream", "collate_eval"]


class ShardEvalStream(torch.utils.data.IterableDataset):
    """Every item of a split's shards once, for scoring: rank ``r`` of ``world`` reads
    shards ``r, r + world, ...``, loader worker ``w`` of ``W`` every ``W``-th of those;
    each clip through ``stage`` in eval mode (from its start, up to its seconds).

    Items: ``(waveform float32 (time,), length, utt_id)``; see :func:`collate_eval`.
    """

    def __init__(self, source: ShardSource, stage: CropStage, rank: int = 0,
                 world: int = 1) -> None:
        super().__init__()
        if stage.train:
            raise ValueError("a ShardEvalStream scores; its stage must be in eval mode")
        self.source, self.stage, self.rank, self.world = source, stage, int(rank), int(world)

    def __iter__(self) -> Iterator[tuple]:
        info = torch.utils.data.get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        mine = list(range(len(self.source.entries)))[self.rank :: self.world][worker::workers]
        for index in mine:
            for sample in shard_samples(self.source.url(self.source.entries[index])):
                meta = json.loads(sample["json"])
                ext = str(meta["audio"]).split(".", 1)[1]
                name = f"{meta['utt_id']!r} in {sample.get('__url__', '?')}"
                wave, _ = self.stage(functools.partial(read_clip, sample[ext], name))
                yield torch.from_numpy(wave), int(wave.shape[0]), str(meta["utt_id"])


def collate_eval(items: Sequence[tuple]) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """``(x float32 (batch, max_time) zero-padded, lengths int64 (batch,), utt_ids)``."""
    lengths = torch.tensor([int(it[1]) for it in items], dtype=torch.int64)
    x = torch.zeros(len(items), int(lengths.max()), dtype=torch.float32)
    for row, item in enumerate(items):
        x[row, : item[1]] = item[0][: item[1]]
    return x, lengths, [it[2] for it in items]
