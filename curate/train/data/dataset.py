"""The cropping dataset (:class:`CropDataset`): decode, crop or tile, CPU augmentation per
item; and the batch collation.

The per-item work is :class:`CropStage`: given a way to read a window of one clip
(``read(choose) -> (samples, rate)``, see :func:`curate.train.data.io.read_window`) and
its random generators, it returns the cropped, resampled, augmented waveform. The
map-style :class:`CropDataset` (files by path) and the streaming shard reader
(:mod:`curate.train.data.shards`, clips held in memory) both use it, so both deliver
the same audio for the same clip and the same draws.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from os import PathLike
from typing import Any, NamedTuple

import numpy as np
import torch
import torchaudio

from curate.train.data.arrays import PackedStrings, as_strings
from curate.train.data.io import read_window, tile
from curate.train.data.items import REGIMES, Key, PathType, as_items, as_label
from curate.train.data.seeds import augment_rng, crop_rng


#: ``read(choose) -> (samples, sample_rate)``: decode the window ``choose(frames, rate)``
#: picks of one clip (float32 mono samples, rate in Hz); see :func:`read_window`.
WindowReader = Callable[[Callable[[int, int], tuple[int, int]]], tuple[np.ndarray, int]]


@dataclass(frozen=True)
class CropStage:
    """The CPU stage of one item: decode a window, mono-mix, resample, crop or tile, and
    the augmentation chain's CPU steps (see :class:`CropDataset` for the regimes).

    Attributes:
        sample_rate: output rate in Hz.
        seconds: crop length (train, fixed regime) or maximum length (eval), seconds;
            None in eval mode: whole clips.
        train: random crops (True) or the start of each clip (False).
        regime: "fixed" or "long" (train mode only).
        long_seconds: ``(min, max)`` crop length of the long regime, seconds.
    """

    sample_rate: int = 16000
    seconds: float | None = 2.0
    train: bool = True
    regime: str = "fixed"
    long_seconds: tuple[float, float] = (10.0, 13.0)

    @property
    def num_samples(self) -> int | None:
        """Crop (or maximum eval) length in samples at ``sample_rate``."""
        return None if self.seconds is None else max(1, round(self.seconds * self.sample_rate))

    def __call__(self, read: WindowReader, rng: np.random.Generator | None = None,
                 chain: Any = None, augment: np.random.Generator | None = None
                 ) -> tuple[np.ndarray, list[dict]]:
        """One item: ``(waveform float32 (time,), CPU augmentation steps applied)``.

        Args:
            read: reads a window of the clip (a path's :func:`read_window`, or bytes).
            rng: the crop's generator (train mode).
            chain: the augmentation chain's CPU stage (train mode), or None.
            augment: the chain's generator (needed when ``chain`` has CPU steps).
        """
        steps: list[dict] = []
        if not self.train:
            return self._eval_clip(read), steps
        assert rng is not None, "train mode needs the crop's generator"
        wave = self._train_crop(read, rng) if self.regime == "fixed" else \
            self._long_crop(read, rng)
        if chain is not None and getattr(chain, "has_cpu_steps", True):
            assert augment is not None, "a chain with CPU steps needs its generator"
            wave, steps = self._augment(chain, wave, augment)
        return wave, steps

    # -- decoding ---------------------------------------------------------------------

    def _source_frames(self, num_samples: int, src_rate: int) -> int:
        """Frames to read at ``src_rate`` to cover ``num_samples`` after resampling."""
        return math.ceil(num_samples * src_rate / self.sample_rate)

    def _resample(self, x: np.ndarray, src_rate: int) -> np.ndarray:
        if src_rate == self.sample_rate:
            return x
        y = torchaudio.functional.resample(torch.from_numpy(x), src_rate, self.sample_rate)
        return y.numpy()

    def _random_window(self, read: WindowReader, rng: np.random.Generator,
                       num_samples: int) -> np.ndarray:
        """A random window of ``num_samples`` (at the output rate), or the whole clip
        if it is shorter; never padded. The file is opened once."""
        want = 0

        def choose(total: int, src_rate: int) -> tuple[int, int]:
            nonlocal want
            want = self._source_frames(num_samples, src_rate)
            if total > want:
                return int(rng.integers(0, total - want + 1)), want
            return 0, -1  # short clip, or a format that does not report its length

        x, src_rate = read(choose)
        if x.shape[0] > want:
            start = int(rng.integers(0, x.shape[0] - want + 1))
            x = x[start : start + want]
        return self._resample(x, src_rate)[:num_samples]

    def _train_crop(self, read: WindowReader, rng: np.random.Generator) -> np.ndarray:
        num_samples = self.num_samples
        assert num_samples is not None
        x = self._random_window(read, rng, num_samples)
        if x.shape[0] < num_samples:
            x = tile(x, num_samples)
        return np.ascontiguousarray(x[:num_samples], dtype=np.float32)

    def _long_crop(self, read: WindowReader, rng: np.random.Generator) -> np.ndarray:
        """Whole if at most ``long_seconds[1]`` long, else a random crop of a random
        length in ``long_seconds``. The file is opened once."""
        lo, hi = self.long_seconds
        want = 0

        def choose(total: int, src_rate: int) -> tuple[int, int]:
            nonlocal want
            if 0 < total <= hi * src_rate:
                return 0, -1
            seconds = float(rng.uniform(lo, hi))
            want = math.ceil(max(1, round(seconds * self.sample_rate)) * src_rate
                             / self.sample_rate)
            if total > want:
                return int(rng.integers(0, total - want + 1)), want
            return 0, -1

        x, src_rate = read(choose)
        if want and x.shape[0] > want:  # a format without a length: crop after decoding
            start = int(rng.integers(0, x.shape[0] - want + 1))
            x = x[start : start + want]
        return np.ascontiguousarray(self._resample(x, src_rate), dtype=np.float32)

    def _eval_clip(self, read: WindowReader) -> np.ndarray:
        num_samples = self.num_samples
        if num_samples is None:
            x, src_rate = read(lambda _total, _rate: (0, -1))  # the whole file
            return np.ascontiguousarray(self._resample(x, src_rate), dtype=np.float32)
        x, src_rate = read(lambda _total, rate: (0, self._source_frames(num_samples, rate)))
        x = self._resample(x, src_rate)[:num_samples]
        return np.ascontiguousarray(x, dtype=np.float32)

    def _augment(self, chain: Any, wave: np.ndarray,
                 rng: np.random.Generator) -> tuple[np.ndarray, list[dict]]:
        y, steps = chain.cpu_stage(wave, self.sample_rate, rng)
        y = np.asarray(y, dtype=np.float32).reshape(-1)
        if self.regime == "fixed" and y.shape[0] != wave.shape[0]:  # keep the crop length
            y = tile(y, wave.shape[0]) if y.shape[0] < wave.shape[0] else y[: wave.shape[0]]
        if not np.isfinite(y).all():
            raise FloatingPointError(
                "the augmentation chain's CPU stage returned NaN/inf samples; check the "
                "chain's steps and parameters"
            )
        return np.ascontiguousarray(y), list(steps or [])


class CropDataset(torch.utils.data.Dataset):
    """Waveform dataset that decodes, mono-mixes, resamples, crops and augments each clip.

    Train mode, regime ``fixed``: a random crop of exactly ``seconds``; the start depends
    only on ``(seed, epoch, index)``. Clips shorter than the crop are tiled to the crop
    length, so every item has ``length == crop samples``.

    Train mode, regime ``long``: clips longer than ``long_seconds[1]`` get a random crop
    of a random length in ``long_seconds``; shorter clips are kept whole.

    Eval mode: deterministic, the start of the file up to ``seconds`` (``None``: the
    whole file), never padded; ``collate`` pads the batch and the model masks it.

    Augmentation: ``chain`` (an object with ``cpu_stage(x, sample_rate, rng)``, e.g. a
    :class:`curate.augment.chain.Chain`, or the path of a chain file, loaded once per
    worker process) runs on each training item after the crop, with a generator seeded
    by ``(seed, epoch, index)``.

    Args:
        paths: audio files, one per item.
        labels: one label per path (1/'bonafide', 0/'spoof'), or None for unlabelled
            data (items then carry label -1).
        sample_rate: output sample rate in Hz; other rates are resampled.
        seconds: crop length (train, fixed regime) or maximum length (eval), seconds.
        train: random crops (True) or deterministic starts (False).
        seed: base seed of the crops and of the CPU augmentation stage.
        regime: "fixed" or "long" (train mode only).
        long_seconds: ``(min, max)`` crop length of the long regime, seconds.
        chain: CPU augmentation stage (train mode only), or None.
        return_meta: items carry ``(index, epoch, applied steps)`` too (see below).

    Items:
        ``dataset[i]`` or ``dataset[(i, epoch)]`` -> ``(waveform, length, label)`` with
        waveform a float32 tensor of shape (time,), ``length == time`` and label an int;
        with ``return_meta`` -> ``(waveform, length, label, index, epoch, steps)``.
        A plain index uses the epoch set by :meth:`set_epoch`; an ``(index, epoch)`` key
        (as yielded by the batch samplers) carries its own epoch, which stays correct
        with persistent loader workers.
    """

    def __init__(
        self,
        paths: Sequence[PathType],
        labels: Sequence[Any] | None = None,
        *,
        sample_rate: int = 16000,
        seconds: float | None = 2.0,
        train: bool = True,
        seed: int = 0,
        regime: str = "fixed",
        long_seconds: tuple[float, float] = (10.0, 13.0),
        chain: Any = None,
        return_meta: bool = False,
    ) -> None:
        self.paths = as_strings([str(p) for p in paths]) if not isinstance(
            paths, PackedStrings) else paths
        if labels is None:
            self._labels = np.full(len(self.paths), -1, dtype=np.int64)
        else:
            if len(labels) != len(self.paths):
                raise ValueError(
                    f"labels has {len(labels)} entries but paths has {len(self.paths)}; "
                    "pass one label per path"
                )
            self._labels = np.asarray([as_label(v) for v in labels], dtype=np.int64)
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be > 0 Hz, got {sample_rate}")
        if seconds is not None and not seconds > 0:
            raise ValueError(f"seconds must be > 0, got {seconds}")
        if regime not in REGIMES:
            raise ValueError(f"regime must be one of {', '.join(REGIMES)}, got {regime!r}")
        if train and regime == "fixed" and seconds is None:
            raise ValueError("seconds must be set in train mode (the crop length)")
        lo, hi = (float(v) for v in long_seconds)
        if not 0 < lo <= hi:
            raise ValueError(f"long_seconds must be (min, max) with 0 < min <= max, got "
                             f"{long_seconds}")
        self.sample_rate = int(sample_rate)
        self.seconds = seconds
        self.num_samples = None if seconds is None else max(1, round(seconds * sample_rate))
        self.train = bool(train)
        self.seed = int(seed)
        self.regime = regime
        self.long_seconds = (lo, hi)
        self.stage = CropStage(self.sample_rate, seconds, self.train, regime, (lo, hi))
        self._chain_spec = chain
        self._chain = None if isinstance(chain, (str, PathLike)) else chain
        self.return_meta = bool(return_meta)
        self.epoch = 0

    @property
    def labels(self) -> np.ndarray:
        """Labels, int64 (n,): 1 bonafide, 0 spoof, -1 unlabelled."""
        return self._labels

    @classmethod
    def from_items(cls, items: Sequence[Any], **kwargs: Any) -> CropDataset:
        """Build from :class:`Item` records (or anything :func:`as_items` accepts)."""
        items = as_items(items)
        return cls([it.path for it in items], [it.label for it in items], **kwargs)

    @property
    def chain(self) -> Any:
        """The CPU augmentation stage, loaded on first use in each process."""
        if self._chain is None and self._chain_spec is not None:
            from curate.augment.chain.parse import load_chain

            self._chain = load_chain(self._chain_spec)
        return self._chain

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        if isinstance(self._chain_spec, (str, PathLike)):
            state["_chain"] = None  # each worker loads the file itself
        return state

    def set_epoch(self, epoch: int) -> None:
        """Select the crops of ``epoch`` for plain integer indices."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, key: Key) -> tuple:
        if isinstance(key, tuple):
            index, epoch = int(key[0]), int(key[1])
        else:
            index, epoch = int(key), self.epoch
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        index %= len(self)
        read = functools.partial(read_window, self.paths[index])
        if self.train:
            chain = self.chain
            augment = augment_rng(self.seed, epoch, index) if chain is not None and getattr(
                chain, "has_cpu_steps", True) else None
            wave, steps = self.stage(read, crop_rng(self.seed, epoch, index), chain, augment)
        else:
            wave, steps = self.stage(read)
        label = int(self._labels[index])
        if self.return_meta:
            return torch.from_numpy(wave), int(wave.shape[0]), label, index, epoch, steps
        return torch.from_numpy(wave), int(wave.shape[0]), label


class Batch(NamedTuple):
    """A collated training batch with its provenance.

    Attributes:
        x: float32 (batch, max_time), zero-padded.
        lengths: int64 (batch,).
        labels: int64 (batch,).
        index: int64 (batch,) item indices.
        epoch: int64 (batch,) epoch of each item.
        steps: per row, the CPU augmentation steps applied (plain data).
    """

    x: torch.Tensor
    lengths: torch.Tensor
    labels: torch.Tensor
    index: torch.Tensor
    epoch: torch.Tensor
    steps: list


def collate(batch: Sequence[tuple]) -> Any:
    """Zero-pad a list of dataset items into a batch.

    ``(waveform (time,), length, label)`` items give ``(x, lengths, labels)``: x float32
    (batch, max_time), lengths int64 (batch,), labels int64 (batch,). Items with
    metadata (``return_meta``) give a :class:`Batch`.
    """
    if len(batch) == 0:
        raise ValueError("batch is empty; collate needs at least one item")
    lengths = torch.tensor([int(item[1]) for item in batch], dtype=torch.int64)
    labels = torch.tensor([int(item[2]) for item in batch], dtype=torch.int64)
    x = torch.zeros(len(batch), int(lengths.max()), dtype=torch.float32)
    for row, item in enumerate(batch):
        x[row, : item[1]] = item[0][: item[1]]
    if len(batch[0]) == 3:
        return x, lengths, labels
    index = torch.tensor([int(item[3]) for item in batch], dtype=torch.int64)
    epoch = torch.tensor([int(item[4]) for item in batch], dtype=torch.int64)
    return Batch(x, lengths, labels, index, epoch, [item[5] for item in batch])
