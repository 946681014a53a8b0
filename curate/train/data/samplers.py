"""Samplers: the epoch plan (natural, balanced, temperature, weighted), fixed and dynamic
batches, and the per-rank share of a global batch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch

from curate.train.data.seeds import derive_seed

SAMPLERS = ("natural", "balanced", "temperature", "weighted")


def _epoch_generator(seed: int, epoch: int) -> torch.Generator:
    state = np.random.SeedSequence([seed, epoch]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 31 ^ int(state[1]))


class EpochPlan:
    """Which items an epoch holds, in which order: a function of ``(seed, epoch)``.

    Args:
        labels: label of each item (used by ``balanced``).
        seed: base seed.
        mode: "natural", "balanced", "temperature" or "weighted".
        groups: group code of each item (``temperature``).
        temperature: T >= 1 typically; group g gets ``N * n_g^(1/T) / sum n^(1/T)``
            items per epoch (T = 1: natural proportions; large T: equal groups).
        weights: per-item sampling weights (``weighted``), >= 0 with a positive sum.

    ``balanced``: every item of the largest class once and the items of each other
    class cycled (each pass reshuffled) up to the same count. ``temperature``: each
    group's items cycled (or a random subset) to its count. ``weighted``: N draws
    with replacement. The pool is then shuffled.
    """

    def __init__(
        self,
        labels: Sequence[Any],
        *,
        seed: int = 0,
        mode: str = "natural",
        groups: Sequence[int] | None = None,
        temperature: float = 1.0,
        weights: Sequence[float] | None = None,
    ) -> None:
        if len(labels) == 0:
            raise ValueError("labels is empty; the sampler needs at least one item")
        if mode not in SAMPLERS:
            raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, got {mode!r}")
        self.n = len(labels)
        self.seed = int(seed)
        self.mode = mode
        self.temperature = float(temperature)
        if mode == "balanced":
            self._members = _members(list(labels))
        elif mode == "temperature":
            if groups is None or len(groups) != self.n:
                raise ValueError("the temperature sampler needs one group per item")
            if not self.temperature > 0:
                raise ValueError(f"temperature must be > 0, got {temperature}")
            self._members = _members(list(np.asarray(groups).tolist()))
            sizes = np.array([len(m) for m in self._members], dtype=np.float64)
            probs = sizes ** (1.0 / self.temperature)
            probs /= probs.sum()
            self._counts = _round_counts(probs * self.n, self.n)
        elif mode == "weighted":
            if weights is None or len(weights) != self.n:
                raise ValueError("the weighted sampler needs one weight per item")
            w = torch.as_tensor(np.asarray(weights, dtype=np.float64))
            if (w < 0).any() or not w.sum() > 0 or not torch.isfinite(w).all():
                raise ValueError("sampling weights must be finite, >= 0, with a positive sum")
            self._weights = w

    def size(self) -> int:
        """Items per epoch."""
        if self.mode == "balanced":
            return len(self._members) * max(len(m) for m in self._members)
        return self.n

    def indices(self, epoch: int) -> torch.Tensor:
        """Item indices of ``epoch`` in sampling order, (size,) int64."""
        g = _epoch_generator(self.seed, epoch)
        if self.mode == "natural":
            return torch.randperm(self.n, generator=g)
        if self.mode == "weighted":
            return torch.multinomial(self._weights, self.n, replacement=True, generator=g)
        if self.mode == "balanced":
            target = max(len(v) for v in self._members)
            counts = [target] * len(self._members)
        else:
            counts = self._counts
        parts = []
        for members, count in zip(self._members, counts):
            if count == 0:
                continue
            passes = -(-count // len(members))
            cycled = torch.cat(
                [members[torch.randperm(len(members), generator=g)] for _ in range(passes)]
            )
            parts.append(cycled[:count])
        pool = torch.cat(parts)
        return pool[torch.randperm(len(pool), generator=g)]


def _members(labels: list) -> list[torch.Tensor]:
    by_class: dict[Any, list[int]] = {}
    for i, label in enumerate(labels):
        by_class.setdefault(label, []).append(i)
    return [torch.tensor(by_class[c]) for c in sorted(by_class, key=str)]


def _round_counts(expected: np.ndarray, total: int) -> list[int]:
    """Integer counts summing to ``total`` (largest remainders), each >= 1."""
    counts = np.maximum(1, np.floor(expected).astype(np.int64))
    remainder = total - int(counts.sum())
    order = np.argsort(-(expected - np.floor(expected)), kind="stable")
    for i in order[: max(0, remainder)]:
        counts[i] += 1
    return counts.tolist()


class EpochBatchSampler(torch.utils.data.Sampler):
    """Batches of ``(index, epoch)`` keys from a stream of reshuffled epochs.

    Epoch ``e`` is an :class:`EpochPlan` order drawn from a ``torch.Generator`` seeded by
    ``(seed, e)``; consecutive epochs are concatenated and cut into batches of
    ``batch_size`` (a batch may span two epochs, so no item is dropped and datasets
    smaller than a batch work).

    Args:
        labels: label of each item (used for balancing; any hashable values).
        batch_size: items per batch.
        seed: base seed.
        balanced: oversample minority classes to the size of the largest one (a
            shorthand for ``plan=EpochPlan(labels, seed=seed, mode="balanced")``).
        num_batches: total batches of the run, skipped ones included (None: endless).
        start_batch: skip this many batches first, to resume a run at that step; the
            remaining batches are exactly those an uninterrupted run would see.
        plan: the epochs' item order (default: natural or balanced by ``balanced``).
    """

    def __init__(
        self,
        labels: Sequence[Any],
        batch_size: int,
        *,
        seed: int = 0,
        balanced: bool = False,
        num_batches: int | None = None,
        start_batch: int = 0,
        plan: EpochPlan | None = None,
    ) -> None:
        if len(labels) == 0:
            raise ValueError("labels is empty; the sampler needs at least one item")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if num_batches is not None and num_batches < 0:
            raise ValueError(f"num_batches must be >= 0 or None, got {num_batches}")
        if start_batch < 0:
            raise ValueError(f"start_batch must be >= 0, got {start_batch}")
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.num_batches = num_batches
        self.start_batch = int(start_batch)
        self.plan = plan or EpochPlan(labels, seed=seed,
                                      mode="balanced" if balanced else "natural")

    def epoch_indices(self, epoch: int) -> torch.Tensor:
        """Item indices of ``epoch`` in sampling order, (epoch_size,) int64."""
        return self.plan.indices(epoch)

    def batches_per_epoch(self) -> float:
        return self.plan.size() / self.batch_size

    def _keys(self) -> Iterator[tuple[int, int]]:
        epoch = 0
        while True:
            for index in self.epoch_indices(epoch).tolist():
                yield index, epoch
            epoch += 1

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        keys = self._keys()
        produced = 0
        while self.num_batches is None or produced < self.num_batches:
            batch = [next(keys) for _ in range(self.batch_size)]
            if produced >= self.start_batch:
                yield batch
            produced += 1

    def __len__(self) -> int:
        if self.num_batches is None:
            raise TypeError("an EpochBatchSampler without num_batches has no length")
        return max(0, self.num_batches - self.start_batch)


class DynamicBatchSampler(torch.utils.data.Sampler):
    """Batches by total padded seconds, items grouped in length buckets.

    Each epoch's items (an :class:`EpochPlan` order) go to ``buckets`` length buckets
    (quantiles of the item lengths); each bucket, in that order, is packed greedily into
    batches whose padded size ``max(length) * count`` stays within ``max_seconds``
    (at least ``min_items`` per batch: a bucket's short tail moves on to the next
    bucket; the last one takes items from the batch before it); then the epoch's
    batches are shuffled. Batches never span two epochs; a single item longer than the
    budget (or ``min_items`` of them) makes an over-budget batch.

    Args:
        plan: the epochs' item order.
        seconds: effective length of each item in seconds (what it will be after
            cropping: ``min(duration, long_max)`` in the long regime).
        max_seconds: padded seconds per batch.
        buckets: number of length buckets.
        seed: base seed (batch order).
        num_batches, start_batch: as in :class:`EpochBatchSampler`.
        min_items: fewest items per batch (the number of DDP ranks, so each gets one).
        max_items: most items per batch (None: no cap).
    """

    def __init__(
        self,
        plan: EpochPlan,
        seconds: Sequence[float],
        max_seconds: float,
        *,
        buckets: int = 10,
        seed: int = 0,
        num_batches: int | None = None,
        start_batch: int = 0,
        min_items: int = 1,
        max_items: int | None = None,
    ) -> None:
        lengths = np.asarray(seconds, dtype=np.float64)
        if lengths.shape != (plan.n,):
            raise ValueError(f"seconds has {lengths.shape[0]} entries for {plan.n} items")
        if not np.isfinite(lengths).all() or (lengths <= 0).any():
            raise ValueError("item lengths must be finite and > 0 seconds; probe the audio")
        if not max_seconds > 0:
            raise ValueError(f"max_seconds must be > 0, got {max_seconds}")
        if buckets < 1:
            raise ValueError(f"buckets must be >= 1, got {buckets}")
        if min_items < 1 or (max_items is not None and max_items < min_items):
            raise ValueError("need 1 <= min_items <= max_items")
        self.plan = plan
        self.lengths = lengths
        self.max_seconds = float(max_seconds)
        self.seed = int(seed)
        self.num_batches = num_batches
        self.start_batch = int(start_batch)
        self.min_items = int(min_items)
        self.max_items = max_items
        edges = np.quantile(lengths, np.linspace(0, 1, buckets + 1)[1:-1])
        self._bucket = np.searchsorted(edges, lengths, side="right")
        self.buckets = int(buckets)

    def epoch_batches(self, epoch: int) -> list[list[tuple[int, int]]]:
        """The batches of ``epoch``, in order."""
        order = self.plan.indices(epoch).numpy()
        bucket = self._bucket[order]
        batches: list[list[int]] = []
        carry: list[int] = []  # a bucket's short tail moves on to the next bucket
        for b in range(self.buckets):
            members = carry + order[bucket == b].tolist()
            bucket_batches: list[list[int]] = []
            current: list[int] = []
            longest = 0.0
            for index in members:
                size = max(longest, self.lengths[index]) * (len(current) + 1)
                full = self.max_items is not None and len(current) >= self.max_items
                if current and (full or (size > self.max_seconds
                                         and len(current) >= self.min_items)):
                    bucket_batches.append(current)
                    current, longest = [], 0.0
                current.append(index)
                longest = max(longest, self.lengths[index])
            carry = []
            if current and len(current) < self.min_items and b < self.buckets - 1:
                carry = current
            elif current:
                # the last short tail takes items from the batch before it (both stay
                # within the budget) or, if that one has none to spare, joins it
                previous = bucket_batches[-1] if bucket_batches else (
                    batches[-1] if batches else None)
                while (len(current) < self.min_items and previous is not None
                       and len(previous) > self.min_items):
                    current.insert(0, previous.pop())
                if len(current) < self.min_items and previous is not None:
                    previous.extend(current)
                else:
                    bucket_batches.append(current)
            batches.extend(bucket_batches)
        g = _epoch_generator(derive_seed(self.seed, 1), epoch)  # apart from the plan's
        perm = torch.randperm(len(batches), generator=g)
        return [[(i, epoch) for i in batches[k]] for k in perm.tolist()]

    def batches_per_epoch(self) -> float:
        return float(len(self.epoch_batches(0)))

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        produced = 0
        epoch = 0
        while True:
            for batch in self.epoch_batches(epoch):
                if self.num_batches is not None and produced >= self.num_batches:
                    return
                if produced >= self.start_batch:
                    yield batch
                produced += 1
            epoch += 1

    def __len__(self) -> int:
        if self.num_batches is None:
            raise TypeError("a DynamicBatchSampler without num_batches has no length")
        return max(0, self.num_batches - self.start_batch)


class ShardedBatchSampler(torch.utils.data.Sampler):
    """One rank's share of each global batch: items ``rank, rank + world, ...``.

    Every rank runs the same global sampler (same seed), so the union of the shards of
    a step is exactly the batch single-process training would see.
    """

    def __init__(self, sampler: Any, rank: int, world: int) -> None:
        if not 0 <= rank < world:
            raise ValueError(f"rank must be in [0, {world}), got {rank}")
        self.sampler = sampler
        self.rank = rank
        self.world = world

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        for batch in self.sampler:
            if len(batch) < self.world:
                raise ValueError(
                    f"a batch of {len(batch)} items cannot be shared by {self.world} ranks; "
                    "raise the batch size"
                )
            yield batch[self.rank :: self.world]

    def __len__(self) -> int:
        return len(self.sampler)
