"""Training from shards: a deterministic, exactly resumable stream (:class:`ShardStream`).

``curate shard`` writes a selection as WebDataset-layout tar shards (see
:mod:`curate.shard`); with ``data.shards = "DIR"`` training reads them with the
``webdataset`` library instead of opening one file per item. The CPU stage is the
map-style one (:class:`curate.train.data.dataset.CropStage`: crop or tile, resample,
the augmentation chain's CPU steps), applied to the clip's bytes in memory. What a
split holds and the sampler's multiplicities are in :mod:`.shard_source`; fixed and
dynamic batches and the loop's side in :mod:`.shard_batches` and :mod:`.shard_feed`;
scoring in :mod:`.shard_eval`.

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

Randomness. Crop and CPU augmentation of the item at output position ``p`` of epoch
``e`` in slot ``(rank, w)`` are drawn from counter-based generators (Philox): the key
from ``(seed, e, rank, w, stream)``, the counter from ``p`` (:func:`item_rng`), so an
item's draws are a pure function of those numbers and cost no seeding per item. The
delays come from ``(seed, e, rank, w, block)``, the multiplicities from ``(seed, e,
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

Reading. A local shard (a folder location, or ``file:``) is opened with a 1 MiB read
buffer and parsed by webdataset's tar iterator; any other URL is opened by
``webdataset.gopen`` (``pipe:``, ``https:``, ...): see :mod:`curate.shard.index`.
"""

from __future__ import annotations

import functools
import heapq
import io
import json
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import urlparse
from urllib.request import url2pathname

import numpy as np
import soundfile as sf
import torch

from curate.audio.decode import AudioReadError
from curate.errors import CurateError
from curate.shard.index import is_url
from curate.train.data.dataset import CropStage
from curate.train.data.items import as_label
from curate.train.data.shard_source import ShardSource, StreamWeights

__all__ = ["Token", "StreamStart", "ShardStream", "epoch_shards", "item_rng", "read_clip",
           "shard_samples"]

# Streams of the per-epoch draws (the last seed word), apart from one another.
_CROP, _AUGMENT, _DELAY, _COPIES = 0, 1, 2, 3
_DELAY_BLOCK = 4096
# A slot whose epochs deliver nothing this many times in a row cannot feed training.
_MAX_EMPTY_EPOCHS = 100
# Read buffer of a local shard, bytes (tarfile reads it in 10 KiB records).
_READ_BUFFER = 1 << 20


def _rng(*words: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(w) for w in words]))


def _philox_key(*words: int) -> np.ndarray:
    """A 128-bit Philox key (uint64 (2,)) from integers."""
    return np.random.SeedSequence([int(w) for w in words]).generate_state(2, dtype=np.uint64)


def item_rng(seed: int, epoch: int, rank: int, worker: int, position: int,
             stream: int) -> np.random.Generator:
    """The generator of draw ``stream`` (0: crop, 1: CPU augmentation) of the item at
    output ``position`` of ``epoch`` in slot ``(rank, worker)``: Philox keyed by
    ``(seed, epoch, rank, worker, stream)``, its counter starting at ``position`` (word
    2 of 4: each item has 2**128 draws of its own)."""
    counter = np.array([0, 0, position, 0], dtype=np.uint64)
    key = _philox_key(seed, epoch, rank, worker, stream)
    return np.random.Generator(np.random.Philox(counter=counter, key=key))


class _ItemDraws:
    """:func:`item_rng` of one ``(seed, epoch, rank, worker, stream)`` for successive
    positions, without building a generator per item: one Philox whose counter is set
    to each item's start (the generator of the previous item is reset, so use each
    before asking for the next)."""

    def __init__(self, *words: int) -> None:
        self._bits = np.random.Philox(key=_philox_key(*words))
        self._state = self._bits.state
        self.generator = np.random.Generator(self._bits)

    def at(self, position: int) -> np.random.Generator:
        state = self._state
        state["state"]["counter"] = np.array([0, 0, position, 0], dtype=np.uint64)
        state["buffer_pos"], state["has_uint32"], state["uinteger"] = 4, 0, 0
        self._bits.state = state
        return self.generator


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


def shard_samples(url: str) -> Iterator[dict]:
    """The samples of one shard (dicts: ``__key__``, ``__url__``, one bytes value per
    extension), read with webdataset's tar iterator and sample grouping.

    Raises:
        CurateError: the shard cannot be opened or read.
    """
    from webdataset.gopen import gopen
    from webdataset.tariterators import group_by_keys, tar_file_expander

    local = url.startswith("file:") or not is_url(url)
    try:
        # tarfile reads 10 KiB records: a local file gets a large buffer (its path as
        # gopen finds it); other URLs (pipe:, https:, ...) are opened by gopen
        path = url2pathname(urlparse(url).path) if is_url(url) else url
        stream = open(path, "rb", buffering=_READ_BUFFER) if local else gopen(url)
        try:
            yield from group_by_keys(tar_file_expander([{"url": url, "stream": stream}]))
        finally:
            if local:
                stream.close()
    except Exception as exc:  # noqa: BLE001 - a shard that cannot be read stops training
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CurateError(f"cannot read shard {url} ({detail}); check the shards location, "
                          f"or write the shard again with `curate shard`") from None


class _Decoded(NamedTuple):
    """An item after the CPU stage, waiting in the shuffle buffer."""

    wave: torch.Tensor
    steps: list
    label: int
    utt_id: str
    url: str


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
        return self.worker_items(self.current_worker())

    def current_worker(self) -> int:
        """The stream worker this process reads: the loader worker's id (0 without),
        rotated so that the batch after ``start.batches`` comes from worker
        ``start.batches % W``, the loader's first."""
        info = torch.utils.data.get_worker_info()
        physical = info.id if info is not None else 0
        return (physical + self.start.batches) % self.workers

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
            for pos, sample in enumerate(shard_samples(url)):
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
        """The items of one epoch of a slot, from ``start`` (see the module doc). An item
        is decoded when it is read, while its bytes are fresh in the CPU's cache, unless
        it may be one a resumed stream skips (then when it leaves the buffer, if not
        skipped): its draws depend on its raw index only, so both give the same."""
        shards = self.slot_shards(epoch, worker)
        draws = (_ItemDraws(self.seed, epoch, self.rank, worker, _CROP),
                 _ItemDraws(self.seed, epoch, self.rank, worker, _AUGMENT)
                 if self.chain is not None and getattr(self.chain, "has_cpu_steps", True)
                 else None)
        position = start.position if start else 0
        first = start.raw if start else 0
        delay = self._delays(epoch, worker)
        heap: list = []
        window: deque = deque(maxlen=self.buffer)  # where the last D raw items are
        out = first  # rank of the next item to leave the buffer
        i = first - 1
        raws = self._raw(epoch, shards, start)
        for i, (where, meta, sample) in enumerate(raws, start=first):
            window.append(where)
            held = self._decode(i, meta, sample, draws) if out >= position else (meta, sample)
            heapq.heappush(heap, (i + delay(i), i, held))
            while heap and heap[0][0] <= i:
                _, j, held = heapq.heappop(heap)
                if out >= position:
                    yield self._item(epoch, worker, out, i, window, j, held, draws)
                out += 1
        while heap:  # the epoch's end: what is left, in order
            _, j, held = heapq.heappop(heap)
            if out >= position:
                yield self._item(epoch, worker, out, i, window, j, held, draws)
            out += 1

    def _decode(self, raw: int, meta: dict, sample: dict,
                draws: tuple[_ItemDraws, _ItemDraws | None]) -> _Decoded:
        """Raw item ``raw`` through the CPU stage, with its draws."""
        ext = str(meta["audio"]).split(".", 1)[1]
        url = str(sample.get("__url__", ""))
        read = functools.partial(read_clip, sample[ext], f"{meta['utt_id']!r} in {url}")
        crop, augment = draws
        wave, steps = self.stage(read, crop.at(raw), self.chain,
                                 augment.at(raw) if augment is not None else None)
        return _Decoded(torch.from_numpy(wave), steps, as_label(meta["label"]),
                        str(meta["utt_id"]), url)

    def _item(self, epoch: int, worker: int, position: int, phase: int, window: deque,
              raw_index: int, held: Any, draws: tuple[_ItemDraws, _ItemDraws | None]
              ) -> tuple:
        raw = max(0, phase - self.buffer + 1)
        k, s, c = window[raw - (phase - len(window) + 1)]
        token = Token(epoch, position + 1, raw, k, s, c)
        item = held if isinstance(held, _Decoded) else self._decode(raw_index, *held, draws)
        return (item.wave, int(item.wave.shape[0]), item.label, item.utt_id, epoch,
                item.steps, worker, token, item.url)
