"""Training from shards: a deterministic, exactly resumable stream (:class:`ShardStream`).

``curate shard`` writes a selection as WebDataset-layout tar shards (see
:mod:`curate.shard`); with ``data.shards = "DIR"`` training reads them with the
``webdataset`` library instead of opening one file per item. The CPU stage is the
map-style one (:class:`curate.train.data.dataset.CropStage`: crop or tile, resample,
the augmentation chain's CPU steps), applied to the clip's bytes in memory.

Who reads what. A *slot* is one loader worker of one rank: slot ``rank * W + w`` of
``S = world * W`` (``W`` = loader workers, 1 without). Epoch ``e`` orders the split's
shards by a permutation drawn from ``(seed, e)``; slot ``s`` reads shards ``s, s + S,
...`` of that order, so slots never overlap and every shard is read once per epoch.
Each slot's stream runs through its epochs one after another.

Order within a slot. The slot's samples (in shard order) are shuffled with a bounded
buffer: raw item ``i`` gets a delay ``d_i`` uniform in ``[0, D)`` (``D`` =
``shuffle_buffer``) drawn from ``(seed, e, rank, w)``, and items leave in the order of
``i + d_i`` (ties by ``i``). An item moves at most ``D`` places, at most about ``D``
clips are held in memory, and the order is a pure function of the keys, which is what
makes resuming exact (below).

Sampling weights. ``balanced``, ``temperature`` and ``weighted`` give each item a
multiplicity per epoch: ``floor(w) + Bernoulli(frac(w))`` copies, ``w`` its group's
weight (target count / items of the group, the targets of
:class:`~curate.train.data.samplers.EpochPlan`, from the counts in the shards' index)
or its item weight over the mean. Expected epoch composition equals the map-style
samplers'; they differ in that the counts are random around the target, not exact,
copies of an oversampled item sit close together in the stream (the shuffle buffer
spreads them over about ``D`` places), and an epoch is a slot's epoch.

Randomness. Crop and CPU augmentation of the item at output position ``p`` of epoch
``e`` in slot ``(rank, w)`` are drawn from generators seeded by ``(seed, e, rank, w,
p)``; the delays by ``(seed, e, rank, w, block)``; multiplicities by ``(seed, e,
shard)``. No global RNG.

Resuming. Every item carries a *token*: the position after it, ``(epoch, position,
raw, shard, sample, copy)``, where ``raw`` is the first raw item not yet known to be
delivered (``max(0, c - D + 1)`` for the phase ``c`` that delivered it) and
``(shard, sample, copy)`` where that raw item is. The loop keeps the last token of
each worker (the checkpoint stores them with the batches consumed); a resumed stream
opens the slot's shard list at that shard, skips the samples before it (read, never
decoded), replays the buffer from there and skips ``position - raw`` outputs before
decoding again, so it delivers exactly what an uninterrupted run would have. Loader
workers are rotated so the next batch comes from the worker whose turn it was.

Locations: a folder, a ``file:`` URL, a URL prefix, or a URL with ``{name}`` (e.g.
``pipe:aws s3 cp s3://bucket/shards/{name} -``): see :mod:`curate.shard.index`.
"""

from __future__ import annotations

import functools
import heapq
import io
import json
import math
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import soundfile as sf
import torch

from curate.audio.decode import AudioReadError
from curate.errors import CurateError
from curate.shard.index import GROUP_COLUMNS, NONE, ShardFolder, load_folder, merged_counts
from curate.train.data.dataset import CropStage
from curate.train.data.items import as_label
from curate.train.data.samplers import SAMPLERS, _round_counts

__all__ = ["ShardSource", "StreamWeights", "stream_weights", "Token", "StreamStart",
           "ShardStream", "StreamBatch", "collate_stream", "ShardFeed", "ShardEvalStream",
           "collate_eval", "epoch_shards", "read_clip"]

# Streams of the per-epoch draws (the last seed word), apart from one another.
_CROP, _AUGMENT, _DELAY, _COPIES = 0, 1, 2, 3
_DELAY_BLOCK = 4096
# A slot whose epochs deliver nothing this many times in a row cannot feed training.
_MAX_EMPTY_EPOCHS = 100


def _rng(*words: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(w) for w in words]))


# --------------------------------------------------------------------------- source


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


# ------------------------------------------------------------------------- the stream


def epoch_shards(n_shards: int, seed: int, epoch: int) -> np.ndarray:
    """The shards' order in ``epoch``: a permutation of ``range(n_shards)``."""
    return _rng(seed, epoch).permutation(n_shards)


def read_clip(data: bytes, name: str, choose: Any) -> tuple[np.ndarray, int]:
    """Decode the window ``choose(frames, rate)`` picks of a clip held in memory (as
    :func:`curate.train.data.io.read_window` does for a file): float32 mono samples
    and the rate in Hz. ``name`` names the clip in errors."""
    try:
        with sf.SoundFile(io.BytesIO(data)) as f:
            rate = f.samplerate
            start, count = choose(int(f.frames), int(rate))
            if start:
                f.seek(start)
            x = f.read(count, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as exc:
        raise AudioReadError(f"cannot decode {name}: {exc}; write the shard again with "
                             f"`curate shard`") from exc
    if x.shape[0] == 0:
        raise AudioReadError(f"{name} has no samples in the requested window; write the "
                             f"shard again with `curate shard`")
    mono = x[:, 0] if x.shape[1] == 1 else x.mean(axis=1)
    return np.ascontiguousarray(mono, dtype=np.float32), rate


def _samples(url: str) -> Iterator[dict]:
    """The samples of one shard, read with webdataset (any URL it opens)."""
    import webdataset as wds

    pipeline = wds.DataPipeline(wds.SimpleShardList([url]), wds.tarfile_to_samples())
    try:
        yield from pipeline
    except Exception as exc:  # noqa: BLE001 - a shard that cannot be read stops training
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CurateError(f"cannot read shard {url} ({detail}); check the shards location, "
                          f"or write the shard again with `curate shard`") from None


class Token(NamedTuple):
    """Where a slot's stream continues: output ``position`` of ``epoch``, replaying the
    buffer from raw item ``raw``, which is copy ``copy`` of sample ``sample`` of the
    slot's ``shard``-th shard in that epoch."""

    epoch: int
    position: int
    raw: int
    shard: int
    sample: int
    copy: int


@dataclass(frozen=True)
class StreamStart:
    """Where each worker's stream starts (a resumed run): ``tokens`` by worker, and the
    batches the rank has consumed (the loader rotates its workers by it)."""

    batches: int = 0
    tokens: dict[int, Token] = field(default_factory=dict)


class ShardStream(torch.utils.data.IterableDataset):
    """An endless, deterministic stream of training items from shards (see module doc).

    Args:
        source: the split's shards.
        stage: the per-item CPU stage (train mode).
        seed: base seed.
        rank, world: this process's DDP rank and the number of ranks.
        workers: the DataLoader's ``num_workers`` (0: read in the main process).
        buffer: the shuffle buffer ``D`` (items).
        weights: the sampler's multiplicities (default natural).
        chain: the augmentation chain's CPU stage, or None.
        start: where each worker starts (resuming), default the beginning.

    Items: ``(waveform float32 (time,), length, label, utt_id, epoch, steps, worker,
    token, shard name)``; :func:`collate_stream` makes :class:`StreamBatch` es.
    """

    def __init__(self, source: ShardSource, stage: CropStage, *, seed: int = 0,
                 rank: int = 0, world: int = 1, workers: int = 0, buffer: int = 1000,
                 weights: StreamWeights | None = None, chain: Any = None,
                 start: StreamStart | None = None) -> None:
        super().__init__()
        if not stage.train:
            raise ValueError("a ShardStream is for training; its stage must be in train mode")
        if buffer < 1:
            raise ValueError(f"buffer must be >= 1 item, got {buffer}")
        self.source = source
        self.stage = stage
        self.seed = int(seed)
        self.rank, self.world = int(rank), int(world)
        self.loader_workers = int(workers)
        self.workers = max(1, self.loader_workers)
        self.slots = self.world * self.workers
        self.buffer = int(buffer)
        self.weights = weights or StreamWeights(expected_items=float(source.items))
        self.chain = chain
        self.start = start or StreamStart()
        if len(source.entries) < self.slots:
            raise CurateError(
                f"split {source.split!r} of the shards in {source.folder.location} has "
                f"{len(source.entries)} shard(s), fewer than the {self.slots} readers "
                f"({self.world} rank(s) x {self.workers} loader worker(s)) that each need "
                f"their own; write smaller shards (`curate shard --shard-size`) or use "
                f"fewer loader workers (data.num_workers)")

    def __iter__(self) -> Iterator[tuple]:
        info = torch.utils.data.get_worker_info()
        physical = info.id if info is not None else 0
        # the batch after `start.batches` comes from worker start.batches % W: rotate so
        # that worker is the loader's first
        return self.worker_items((physical + self.start.batches) % self.workers)

    def worker_items(self, worker: int) -> Iterator[tuple]:
        """The endless item stream of ``worker`` (0 .. W-1) of this rank."""
        token = self.start.tokens.get(worker)
        epoch = token.epoch if token is not None else 0
        empty = 0
        while True:
            delivered = False
            for item in self._epoch(epoch, worker, token):
                delivered = True
                yield item
            empty = 0 if delivered else empty + 1
            if empty >= _MAX_EMPTY_EPOCHS:
                raise CurateError(f"worker {worker} of rank {self.rank} read no item in "
                                  f"{empty} epochs of the shards in "
                                  f"{self.source.folder.location} (every item weighted "
                                  f"0?); check the sampler's weights")
            epoch += 1
            token = None

    def slot_shards(self, epoch: int, worker: int) -> list[int]:
        """Indices (into ``source.entries``) of the shards ``worker`` reads in ``epoch``."""
        order = epoch_shards(len(self.source.entries), self.seed, epoch)
        return order[self.rank * self.workers + worker :: self.slots].tolist()

    def _raw(self, epoch: int, shards: list[int], start: Token | None
             ) -> Iterator[tuple[tuple[int, int, int], dict, dict]]:
        """The slot's raw items from ``start``: ``((shard, sample, copy), meta, sample)``;
        samples before the start are read, never decoded."""
        k0, s0, c0 = (start.shard, start.sample, start.copy) if start else (0, 0, 0)
        for k in range(k0, len(shards)):
            entry = self.source.entries[shards[k]]
            url = self.source.url(entry)
            draws = None
            count = 0
            for pos, sample in enumerate(_samples(url)):
                count += 1
                if k == k0 and pos < s0:
                    continue
                meta = json.loads(sample["json"])
                expected = self.weights.expected(meta)
                copies = int(expected)
                if expected != copies:
                    if draws is None:  # one generator per shard and epoch
                        draws = _rng(self.seed, epoch, int(entry["number"]), _COPIES
                                     ).random(int(entry["items"]))
                    copies += int(draws[pos] < expected - copies)
                for copy in range(c0 if (k == k0 and pos == s0) else 0, copies):
                    yield (k, pos, copy), meta, sample
            if count != int(entry["items"]):
                raise CurateError(f"shard {url} holds {count} samples where its index says "
                                  f"{entry['items']}; write the shards again with "
                                  f"`curate shard` into a new folder")

    def _delays(self, epoch: int, worker: int) -> Any:
        cache: dict[int, np.ndarray] = {}

        def delay(i: int) -> int:
            block = i // _DELAY_BLOCK
            if block not in cache:
                cache.clear()
                cache[block] = _rng(self.seed, epoch, self.rank, worker, block, _DELAY
                                    ).integers(0, self.buffer, _DELAY_BLOCK)
            return int(cache[block][i % _DELAY_BLOCK])

        return delay

    def _epoch(self, epoch: int, worker: int, start: Token | None) -> Iterator[tuple]:
        """The items of one epoch of a slot, from ``start`` (see the module doc)."""
        shards = self.slot_shards(epoch, worker)
        position = start.position if start else 0
        first = start.raw if start else 0
        delay = self._delays(epoch, worker)
        heap: list = []
        window: deque = deque(maxlen=self.buffer)  # where the last D raw items are
        out = first  # rank of the next item to leave the buffer
        i = first - 1
        for i, (where, meta, sample) in enumerate(self._raw(epoch, shards, start), start=first):
            window.append(where)
            heapq.heappush(heap, (i + delay(i), i, meta, sample))
            while heap and heap[0][0] <= i:
                _, _, meta_out, sample_out = heapq.heappop(heap)
                if out >= position:
                    yield self._item(epoch, worker, out, i, window, meta_out, sample_out)
                out += 1
        while heap:  # the epoch's end: what is left, in order
            _, _, meta_out, sample_out = heapq.heappop(heap)
            if out >= position:
                yield self._item(epoch, worker, out, i, window, meta_out, sample_out)
            out += 1

    def _item(self, epoch: int, worker: int, position: int, phase: int, window: deque,
              meta: dict, sample: dict) -> tuple:
        raw = max(0, phase - self.buffer + 1)
        k, s, c = window[raw - (phase - len(window) + 1)]
        token = Token(epoch, position + 1, raw, k, s, c)
        ext = str(meta["audio"]).split(".", 1)[1]
        name = f"{meta['utt_id']!r} in {sample.get('__url__', '?')}"
        read = functools.partial(read_clip, sample[ext], name)
        keys = (self.seed, epoch, self.rank, worker, position)
        chain = self.chain
        augment = _rng(*keys, _AUGMENT) if chain is not None and getattr(
            chain, "has_cpu_steps", True) else None
        wave, steps = self.stage(read, _rng(*keys, _CROP), chain, augment)
        return (torch.from_numpy(wave), int(wave.shape[0]), as_label(meta["label"]),
                str(meta["utt_id"]), epoch, steps, worker, token,
                str(sample.get("__url__", "")))


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


# -------------------------------------------------------------------------- scoring


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
            for sample in _samples(self.source.url(self.source.entries[index])):
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


# ------------------------------------------------------------------- the loop's side


class ShardFeed:
    """The training loop's side of a shard stream: the DataLoader over a
    :class:`ShardStream`, and the position in it that checkpoints store.

    Args:
        stream: the rank's stream (its ``start`` is where it resumes).
        batch_size: items per batch of this rank.
        pin_memory: pin batches (CUDA).

    Every batch the iterator yields counts as consumed: :meth:`state` is then the
    batches consumed and each worker's token after its last consumed batch.
    """

    def __init__(self, stream: ShardStream, batch_size: int, pin_memory: bool = False
                 ) -> None:
        self.stream = stream
        self.loader = torch.utils.data.DataLoader(
            stream, batch_size=batch_size, collate_fn=collate_stream,
            num_workers=stream.loader_workers, pin_memory=pin_memory,
            # its own generator: a loader without one draws its base seed from (and so
            # moves) the global torch RNG, which dropout uses
            generator=torch.Generator().manual_seed(stream.seed))
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
