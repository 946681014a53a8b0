"""The training loop's side of a shard stream (:class:`ShardFeed`): the DataLoader over
it, with fixed or dynamic batches, and the position in it that checkpoints store."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch

from curate.errors import CurateError
from curate.train.data.shard_batches import (ShardBatchStream, StreamBatch, as_batch,
                                             collate_stream)
from curate.train.data.shards import ShardStream, StreamStart, Token

__all__ = ["ShardFeed"]


class ShardFeed:
    """The DataLoader over a rank's :class:`ShardStream`, and its position.

    Args:
        stream: the rank's stream (its ``start`` is where it resumes).
        batch_size: items per batch of this rank (fixed batches).
        pin_memory: pin batches (CUDA).
        max_seconds: padded seconds per batch of this rank instead (dynamic batches,
            see :mod:`curate.train.data.shard_batches`); ``batch_size`` is then unused.

    Every batch the iterator yields counts as consumed: :meth:`state` is then the
    batches consumed and each worker's token after its last consumed batch.
    """

    def __init__(self, stream: ShardStream, batch_size: int | None = None,
                 pin_memory: bool = False, max_seconds: float | None = None) -> None:
        if max_seconds is None and (batch_size is None or batch_size < 1):
            raise ValueError(f"batch_size must be >= 1 (or max_seconds set), got {batch_size}")
        self.stream = stream
        # its own generator: a loader without one draws its base seed from (and so
        # moves) the global torch RNG, which dropout uses
        common = dict(num_workers=stream.loader_workers, pin_memory=pin_memory,
                      generator=torch.Generator().manual_seed(stream.seed))
        if max_seconds is None:
            self.loader = torch.utils.data.DataLoader(
                stream, batch_size=batch_size, collate_fn=collate_stream, **common)
        else:  # whole batches from the workers
            self.loader = torch.utils.data.DataLoader(
                ShardBatchStream(stream, max_seconds, stream.stage.sample_rate),
                batch_size=None, collate_fn=as_batch, **common)
        self.batches = stream.start.batches
        self.tokens: dict[int, Token] = dict(stream.start.tokens)

    def __iter__(self) -> Iterator[StreamBatch]:
        for batch in self.loader:
            self.batches += 1
            self.tokens[batch.worker] = batch.token
            yield batch

    def state(self) -> dict[str, Any]:
        """Plain data for the checkpoint: ranks, workers, batches and tokens."""
        return {"world": self.stream.world, "loader_workers": self.stream.loader_workers,
                "batches": self.batches,
                "tokens": {str(w): list(t) for w, t in sorted(self.tokens.items())}}

    @staticmethod
    def start_of(state: dict[str, Any] | None, *, world: int, workers: int, batches: int,
                 where: str) -> StreamStart:
        """The :class:`StreamStart` of a checkpoint's ``state`` (None: the beginning).

        Raises:
            CurateError: the checkpoint was written with other ranks or loader workers
                (each reads its own part of the shards), or is inconsistent.
        """
        if state is None:
            if batches:
                raise CurateError(f"checkpoint {where} holds no position in the shard "
                                  f"stream; it was not written by a run on shards: start "
                                  f"the run again (--force)")
            return StreamStart()
        if int(state["world"]) != world or int(state["loader_workers"]) != workers:
            raise CurateError(
                f"checkpoint {where} was written by a run reading shards with "
                f"{state['world']} rank(s) x {state['loader_workers']} loader worker(s); "
                f"resume with the same (data.num_workers = {state['loader_workers']}): "
                f"each reads its own part of the shards")
        if int(state["batches"]) != batches:
            raise CurateError(f"checkpoint {where} is inconsistent ({state['batches']} "
                              f"batches read for {batches} expected); start the run again "
                              f"(--force)")
        tokens = {int(w): Token(*map(int, t)) for w, t in state["tokens"].items()}
        return StreamStart(batches, tokens)

    def describe(self, batch: StreamBatch, row: int) -> str:
        """A row as errors name it: ``utt_id 'c:x' (shard URL)``."""
        return f"utt_id {batch.utt_ids[row]!r} ({batch.shards[row]})"
