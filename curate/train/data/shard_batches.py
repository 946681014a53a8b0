"""Batches of a shard stream: fixed-size collation (:func:`collate_stream`) and dynamic
batches by padded seconds (:func:`dynamic_batches`, :class:`ShardBatchStream`).

Dynamic batches (``max_batch_seconds`` on shards). Each stream worker cuts its own
items, in stream order, into batches: an item joins the current batch unless the padded
size ``max(length) x count`` would then exceed the budget, in which case the batch is
delivered and the item starts the next one (an item longer than the budget is a batch
of its own). Lengths are those of the items after the CPU stage (the crop), so the
budget holds exactly. A batch's token is the token of its last item: a stream resumed
from it starts at the item that opened the next batch, with an empty batch, which is
the state an uninterrupted stream was in, so resuming stays exact. Items are not
regrouped by length (the shuffle buffer's order is kept): in the fixed regime every
item has the crop's length anyway.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import NamedTuple

import torch

from curate.train.data.shards import ShardStream, Token

__all__ = ["StreamBatch", "collate_stream", "dynamic_batches", "ShardBatchStream",
           "as_batch", "items_per_batch"]


class StreamBatch(NamedTuple):
    """A collated batch of a shard stream (all items from one loader worker).

    Attributes:
        x: float32 (batch, max_time), zero-padded.
        lengths: int64 (batch,).
        labels: int64 (batch,).
        utt_ids: per row, the utterance id.
        epoch: int64 (batch,) the slot epoch of each item.
        steps: per row, the CPU augmentation steps applied (plain data).
        worker: the loader worker it came from.
        token: where that worker's stream continues after this batch.
        shards: per row, the shard it was read from.
    """

    x: torch.Tensor
    lengths: torch.Tensor
    labels: torch.Tensor
    utt_ids: list
    epoch: torch.Tensor
    steps: list
    worker: int
    token: Token
    shards: list


def collate_stream(items: Sequence[tuple]) -> StreamBatch:
    """Zero-pad stream items (see :class:`ShardStream`) into a :class:`StreamBatch`."""
    if len(items) == 0:
        raise ValueError("batch is empty; collate needs at least one item")
    lengths = torch.tensor([int(it[1]) for it in items], dtype=torch.int64)
    x = torch.zeros(len(items), int(lengths.max()), dtype=torch.float32)
    for row, item in enumerate(items):
        x[row, : item[1]] = item[0][: item[1]]
    return StreamBatch(
        x, lengths, torch.tensor([int(it[2]) for it in items], dtype=torch.int64),
        [it[3] for it in items], torch.tensor([int(it[4]) for it in items], dtype=torch.int64),
        [it[5] for it in items], int(items[-1][6]), Token(*items[-1][7]),
        [it[8] for it in items])


def dynamic_batches(items: Iterable[tuple], max_samples: float) -> Iterator[StreamBatch]:
    """Consecutive stream ``items`` cut into batches whose padded size ``max(length) x
    count`` stays within ``max_samples`` (samples; see the module doc)."""
    if not max_samples > 0:
        raise ValueError(f"max_samples must be > 0, got {max_samples}")
    current: list[tuple] = []
    longest = 0
    for item in items:
        length = int(item[1])
        if current and max(longest, length) * (len(current) + 1) > max_samples:
            yield collate_stream(current)
            current, longest = [], 0
        current.append(item)
        longest = max(longest, length)
    if current:  # a finite source's last batch (a training stream never ends)
        yield collate_stream(current)


def items_per_batch(max_seconds: float, item_seconds: float) -> int:
    """Items of ``item_seconds`` each in a dynamic batch of ``max_seconds`` (>= 1)."""
    if not item_seconds > 0:
        raise ValueError(f"item_seconds must be > 0, got {item_seconds}")
    return max(1, int(max_seconds / item_seconds + 1e-9))


def as_batch(batch: StreamBatch) -> StreamBatch:
    """The DataLoader's ``collate_fn`` for whole batches (``batch_size=None``)."""
    return batch


class ShardBatchStream(torch.utils.data.IterableDataset):
    """Whole dynamic batches of a :class:`ShardStream` (see the module doc): each
    loader worker cuts its own stream, and a DataLoader with ``batch_size=None`` passes
    the batches on.

    Args:
        stream: the rank's stream.
        max_seconds: padded seconds per batch of this rank.
        sample_rate: the items' rate, Hz (their lengths are samples).
    """

    def __init__(self, stream: ShardStream, max_seconds: float, sample_rate: int) -> None:
        super().__init__()
        if not max_seconds > 0:
            raise ValueError(f"max_seconds must be > 0, got {max_seconds}")
        self.stream = stream
        self.max_samples = float(max_seconds) * int(sample_rate)

    def __iter__(self) -> Iterator[StreamBatch]:
        items = self.stream.worker_items(self.stream.current_worker())
        return dynamic_batches(items, self.max_samples)
