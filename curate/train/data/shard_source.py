"""What training reads from a shard folder: one split's shards (:class:`ShardSource`),
and how many copies of each item an epoch of a sampler delivers
(:class:`StreamWeights`, :func:`stream_weights`).

Sampling weights. ``balanced``, ``temperature`` and ``weighted`` give each item a
multiplicity per epoch: ``floor(w) + Bernoulli(frac(w))`` copies, ``w`` its group's
weight (target count / items of the group, the targets of
:class:`~curate.train.data.samplers.EpochPlan`, from the counts in the shards' index)
or its item weight over the mean. Expected epoch composition equals the map-style
samplers'; they differ in that the counts are random around the target, not exact,
copies of an oversampled item sit close together in the stream (the shuffle buffer
spreads them over about ``D`` places), and an epoch is a slot's epoch. The stream
(:mod:`curate.train.data.shards`) draws the Bernoulli parts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from curate.errors import CurateError
from curate.shard.index import GROUP_COLUMNS, NONE, ShardFolder, load_folder, merged_counts
from curate.train.data.items import as_label
from curate.train.data.samplers import SAMPLERS, _round_counts

__all__ = ["ShardSource", "StreamWeights", "stream_weights"]



@dataclass(frozen=True)
class ShardSource:
    """One split of a shard folder, as training reads it.

    Attributes:
        folder: the shard folder (manifest and index).
        split: the split read.
        entries: the index entries of its shards that hold items, in shard order.
    """

    folder: ShardFolder
    split: str
    entries: tuple[dict, ...]

    @classmethod
    def open(cls, location: str, split: str) -> ShardSource:
        """Read the folder's manifest and index (a complete shard folder).

        Raises:
            CurateError: incomplete or missing shards, or a split they do not hold.
        """
        folder = load_folder(location)
        if split not in folder.manifest["splits"]:
            raise CurateError(f"the shards in {location} hold no split {split!r} (they hold "
                              f"{', '.join(folder.splits()) or 'none'}); shard that split "
                              f"with `curate shard {folder.selection} --split {split}`")
        entries = tuple(e for e in folder.shards(split) if int(e["items"]) > 0)
        if not entries:
            raise CurateError(f"the shards in {location} hold no readable items of split "
                              f"{split!r}; see the unreadable items in its manifest.json")
        return cls(folder, split, entries)

    @property
    def items(self) -> int:
        """Items of the split in the shards."""
        return sum(int(e["items"]) for e in self.entries)

    @property
    def mean_seconds(self) -> float:
        """Mean seconds of the stored audio per item (from the index)."""
        return sum(float(e["seconds"]) for e in self.entries) / self.items

    def counts(self, column: str) -> dict[str, int]:
        """Items per value of a group column (``label``, ``corpus``, ``language``,
        ``generator``)."""
        return merged_counts(list(self.entries), column)

    def label_counts(self) -> np.ndarray:
        """Items per class, int64 (2,): ``[spoof, bonafide]``."""
        out = np.zeros(2, dtype=np.int64)
        for value, n in self.counts("label").items():
            out[as_label(value)] += n
        return out

    def check_labels(self) -> None:
        """Training needs both classes (the map-style check's sentences)."""
        counts = self.label_counts()
        if counts.min() == 0:
            only = "bonafide" if counts[1] else "spoof"
            raise ValueError(f"labels are all {only}; training a detector needs both "
                             f"bonafide (1) and spoof (0) items")

    def class_weights(self) -> torch.Tensor:
        """Inverse-frequency class weights, as :func:`curate.train.loop.class_weights`
        computes them from the labels."""
        counts = torch.as_tensor(self.label_counts())
        return counts.sum() / (2 * counts.to(torch.float32))

    def url(self, entry: dict) -> str:
        return self.folder.url(entry["name"])


# -------------------------------------------------------------------------- weights


@dataclass(frozen=True)
class StreamWeights:
    """How many copies of each item an epoch delivers (see the module doc).

    Attributes:
        mode: the sampler (natural, balanced, temperature, weighted).
        column: the group column the weights are keyed by (None: per item or none).
        weights: group value -> expected copies per epoch.
        scale: ``weighted``: an item's expected copies are ``weight * scale``.
        expected_items: expected items per epoch over the whole split.
    """

    mode: str = "natural"
    column: str | None = None
    weights: dict[str, float] = field(default_factory=dict)
    scale: float = 1.0
    expected_items: float = 0.0

    def expected(self, meta: dict) -> float:
        """The expected copies per epoch of the item described by ``meta``."""
        if self.mode == "natural":
            return 1.0
        if self.mode == "weighted":
            weight = meta.get("weight")
            return (1.0 if weight is None else float(weight)) * self.scale
        value = meta.get(self.column)
        return self.weights.get(NONE if value in (None, "") else str(value), 0.0)


def stream_weights(source: ShardSource, sampler: str = "natural", by: str = "corpus",
                   temperature: float = 1.0) -> StreamWeights:
    """The per-epoch multiplicities of ``sampler`` from the shards' group counts.

    Raises:
        ValueError: an unknown sampler, or a group column the index does not count.
    """
    n = source.items
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}")
    if sampler == "natural":
        return StreamWeights("natural", expected_items=float(n))
    if sampler == "weighted":
        total = sum(float(e["weight_sum"]) for e in source.entries)
        if not total > 0 or not math.isfinite(total):
            raise ValueError("sampling weights must be finite, >= 0, with a positive sum")
        return StreamWeights("weighted", scale=n / total, expected_items=float(n))
    column = "label" if sampler == "balanced" else by
    if column not in GROUP_COLUMNS:
        raise ValueError(f"TrainConfig.sampler_by {by!r} cannot weight a shard stream: the "
                         f"shards' index counts {', '.join(GROUP_COLUMNS)}; use one of them "
                         f"or map-style data")
    counts = source.counts(column)
    names = sorted(counts)
    sizes = np.array([counts[v] for v in names], dtype=np.float64)
    if sampler == "balanced":
        targets = np.full(len(names), sizes.max())
    else:
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        probs = sizes ** (1.0 / temperature)
        probs /= probs.sum()
        targets = np.asarray(_round_counts(probs * n, n), dtype=np.float64)
    weights = {v: float(t / s) for v, t, s in zip(names, targets, sizes)}
    return StreamWeights(sampler, column, weights, expected_items=float(targets.sum()))
