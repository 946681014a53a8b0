"""Training data: items, memory-light arrays, a cropping dataset, batching and samplers.

Labels are integers, ``1 = bonafide`` and ``0 = spoof`` (the catalog's strings
``"bonafide"`` / ``"spoof"`` are accepted and converted).

Randomness is explicit and reproducible: the random crop of item ``i`` in epoch
``e`` depends only on ``(seed, e, i)``, the CPU augmentation stage of that item on
``(seed, e, i)`` too (another stream), and the sampler's order in epoch ``e`` only on
``(seed, e)``. Nothing uses a global RNG, so results are identical for any number of
loader workers and a run can resume at any step.

Two length regimes (``regime``):

- ``fixed``: a random crop of ``seconds``; shorter clips are tiled (repeated end to
  end) to the crop length. Every item has the same length.
- ``long``: utterances longer than ``long_max`` seconds get a random crop of a random
  length in ``[long_min, long_max]``; shorter ones are kept whole. Batches are padded
  and the model gets the lengths. Pair it with :class:`DynamicBatchSampler` (batches
  by total padded seconds, items grouped in length buckets).

Samplers (:class:`EpochPlan`): ``natural`` (a permutation per epoch), ``balanced``
(every class oversampled to the largest), ``temperature`` (group ``g`` drawn with
probability proportional to ``n_g ** (1 / T)``: T = 1 natural, large T uniform over
groups such as corpora or languages) and ``weighted`` (by per-item weights, e.g. a
selection's ``weight`` column).

Shards (:mod:`curate.train.data.shards`): :class:`ShardStream` reads the tar shards of
``curate shard`` as an endless stream, split across DDP ranks and loader workers
without overlap, shuffled with a bounded buffer, through the same per-item stage
(:class:`CropStage`), and resumable exactly from a position a checkpoint stores. The
split and the sampler's multiplicities: :mod:`~curate.train.data.shard_source`; fixed
and dynamic batches: :mod:`~curate.train.data.shard_batches`; the loop's side:
:mod:`~curate.train.data.shard_feed`; scoring: :mod:`~curate.train.data.shard_eval`.
"""

from __future__ import annotations

from curate.audio.decode import AudioReadError  # the package's one decoding error
from curate.train.data.arrays import PackedStrings, TrainData, as_strings
from curate.train.data.dataset import Batch, CropDataset, CropStage, WindowReader, collate
from curate.train.data.io import file_seconds, read_window, tile
from curate.train.data.items import (BONAFIDE, REGIMES, SPOOF, Item, Key, NonFiniteAudioError,
                                     PathType, as_items, as_label, check_finite)
from curate.train.data.samplers import (SAMPLERS, DynamicBatchSampler, EpochBatchSampler,
                                        EpochPlan, ShardedBatchSampler)
from curate.train.data.seeds import augment_rng, crop_rng, derive_seed
from curate.train.data.shard_batches import (ShardBatchStream, StreamBatch, collate_stream,
                                             dynamic_batches, items_per_batch)
from curate.train.data.shard_eval import ShardEvalStream, collate_eval
from curate.train.data.shard_feed import ShardFeed
from curate.train.data.shard_source import ShardSource, StreamWeights, stream_weights
from curate.train.data.shards import (ShardStream, StreamStart, Token, epoch_shards, item_rng,
                                      read_clip, shard_samples)

__all__ = [
    "AudioReadError",
    "BONAFIDE",
    "SPOOF",
    "REGIMES",
    "PathType",
    "Key",
    "NonFiniteAudioError",
    "check_finite",
    "Item",
    "as_label",
    "as_items",
    "read_window",
    "file_seconds",
    "tile",
    "derive_seed",
    "crop_rng",
    "augment_rng",
    "PackedStrings",
    "as_strings",
    "TrainData",
    "WindowReader",
    "CropStage",
    "CropDataset",
    "Batch",
    "collate",
    "SAMPLERS",
    "EpochPlan",
    "EpochBatchSampler",
    "DynamicBatchSampler",
    "ShardedBatchSampler",
    "ShardSource",
    "StreamWeights",
    "stream_weights",
    "epoch_shards",
    "item_rng",
    "read_clip",
    "shard_samples",
    "Token",
    "StreamStart",
    "ShardStream",
    "StreamBatch",
    "collate_stream",
    "dynamic_batches",
    "items_per_batch",
    "ShardBatchStream",
    "ShardEvalStream",
    "collate_eval",
    "ShardFeed",
]
