"""Training data: items, a cropping waveform dataset, batching and a seeded sampler.

Labels are integers, ``1 = bonafide`` and ``0 = spoof`` (the catalog's strings
``"bonafide"`` / ``"spoof"`` are accepted and converted).

Randomness is explicit and reproducible: the random crop of item ``i`` in epoch
``e`` depends only on ``(seed, e, i)``, and the sampler's order in epoch ``e`` only on
``(seed, e)``. Neither uses a global RNG, so results are identical for any number of
loader workers and a run can resume at any epoch.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from os import PathLike
from typing import Any, Union

import numpy as np
import soundfile as sf
import torch
import torchaudio

from curate.errors import CurateError

__all__ = [
    "BONAFIDE",
    "SPOOF",
    "AudioReadError",
    "Item",
    "as_label",
    "as_items",
    "read_audio",
    "CropDataset",
    "collate",
    "EpochBatchSampler",
]

BONAFIDE = 1
SPOOF = 0

PathType = Union[str, "PathLike[str]"]
Key = Union[int, tuple[int, int]]


class AudioReadError(CurateError):
    """An audio file could not be decoded; the message names the file."""


@dataclass(frozen=True)
class Item:
    """One labelled utterance.

    Attributes:
        path: audio file path.
        label: 1 = bonafide, 0 = spoof.
        utt_id: catalog utterance id (defaults to the path).
    """

    path: str
    label: int
    utt_id: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", str(self.path))
        object.__setattr__(self, "label", as_label(self.label))
        if self.utt_id is None:
            object.__setattr__(self, "utt_id", self.path)


def as_label(value: Any) -> int:
    """Normalise a label to 1 (bonafide) or 0 (spoof); ValueError for anything else."""
    if isinstance(value, str):
        key = value.strip().lower()
        if key in ("bonafide", "bona-fide", "bona_fide", "genuine", "1"):
            return BONAFIDE
        if key in ("spoof", "fake", "0"):
            return SPOOF
    elif isinstance(value, (bool, int, np.integer)) and int(value) in (0, 1):
        return int(value)
    raise ValueError(
        f"label {value!r} is not a valid label; use 1 or 'bonafide' for bonafide and "
        "0 or 'spoof' for spoof"
    )


def as_items(records: Sequence[Any]) -> list[Item]:
    """Convert :class:`Item`, mappings or ``(path, label[, utt_id])`` sequences to Items."""
    items = []
    for i, rec in enumerate(records):
        if isinstance(rec, Item):
            items.append(rec)
        elif isinstance(rec, dict):
            items.append(Item(rec["path"], rec["label"], rec.get("utt_id")))
        elif isinstance(rec, (tuple, list)) and len(rec) in (2, 3):
            items.append(Item(*rec))
        else:
            raise ValueError(
                f"records[{i}] = {rec!r} is not an Item, a mapping with 'path' and 'label', "
                "or a (path, label[, utt_id]) sequence"
            )
    return items


def read_audio(
    path: PathType, *, start: int = 0, frames: int = -1
) -> tuple[np.ndarray, int]:
    """Decode a mono-mixed window of an audio file with soundfile.

    Args:
        path: audio file.
        start: first frame to read, in samples at the file's own rate.
        frames: number of frames to read, -1 = to the end.

    Returns:
        ``(samples, sample_rate)``: float32 array of shape (time,), channels averaged.

    Raises:
        AudioReadError: the file is missing, cannot be decoded, or has no samples.
    """
    try:
        with sf.SoundFile(str(path)) as f:
            sample_rate = f.samplerate
            if start:
                f.seek(start)
            data = f.read(frames, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as exc:
        raise AudioReadError(
            f"cannot decode audio file {path}: {exc}; check the file, or re-run "
            "`curate probe` so unreadable files are marked and left out of selections"
        ) from exc
    if data.shape[0] == 0:
        raise AudioReadError(
            f"audio file {path} has no samples in the requested window (start={start}); "
            "leave empty files out of the selection"
        )
    mono = data[:, 0] if data.shape[1] == 1 else data.mean(axis=1)
    return np.ascontiguousarray(mono, dtype=np.float32), sample_rate


def _file_frames(path: PathType) -> tuple[int, int]:
    """(frames, sample_rate) of a file without decoding it; frames may be <= 0 if unknown."""
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as exc:
        raise AudioReadError(
            f"cannot open audio file {path}: {exc}; check the path and the file format"
        ) from exc
    return int(info.frames), int(info.samplerate)


def _tile(x: np.ndarray, n: int) -> np.ndarray:
    """Repeat ``x`` end to end and cut to exactly ``n`` samples."""
    reps = -(-n // x.shape[0])
    return np.tile(x, reps)[:n]


def _crop_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, epoch, index]))


class CropDataset(torch.utils.data.Dataset):
    """Waveform dataset that decodes, mono-mixes, resamples and crops each clip.

    Train mode: a random crop of exactly ``seconds``; the start depends only on
    ``(seed, epoch, index)``. Clips shorter than the crop are tiled (repeated end to
    end) to the crop length, so every item has ``length == crop samples``.

    Eval mode: deterministic, the start of the file up to ``seconds`` (``None``: the
    whole file), never padded; ``collate`` pads the batch and the model masks it.

    Args:
        paths: audio files, one per item.
        labels: one label per path (1/'bonafide', 0/'spoof'), or None for unlabelled
            data (items then carry label -1).
        sample_rate: output sample rate in Hz; other rates are resampled.
        seconds: crop length (train) or maximum length (eval) in seconds.
        train: random crops (True) or deterministic starts (False).
        seed: base seed of the crops.

    Items:
        ``dataset[i]`` or ``dataset[(i, epoch)]`` -> ``(waveform, length, label)`` with
        waveform a float32 tensor of shape (time,), ``length == time`` and label an int.
        A plain index uses the epoch set by :meth:`set_epoch`; an ``(index, epoch)``
        key (as yielded by :class:`EpochBatchSampler`) carries its own epoch, which
        stays correct with persistent loader workers.
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
    ) -> None:
        self.paths = [str(p) for p in paths]
        if labels is None:
            self.labels = [-1] * len(self.paths)
        else:
            if len(labels) != len(self.paths):
                raise ValueError(
                    f"labels has {len(labels)} entries but paths has {len(self.paths)}; "
                    "pass one label per path"
                )
            self.labels = [as_label(v) for v in labels]
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be > 0 Hz, got {sample_rate}")
        if seconds is not None and not seconds > 0:
            raise ValueError(f"seconds must be > 0, got {seconds}")
        if train and seconds is None:
            raise ValueError("seconds must be set in train mode (the crop length)")
        self.sample_rate = int(sample_rate)
        self.seconds = seconds
        self.num_samples = None if seconds is None else max(1, round(seconds * sample_rate))
        self.train = bool(train)
        self.seed = int(seed)
        self.epoch = 0

    @classmethod
    def from_items(cls, items: Sequence[Any], **kwargs: Any) -> CropDataset:
        """Build from :class:`Item` records (or anything :func:`as_items` accepts)."""
        items = as_items(items)
        return cls([it.path for it in items], [it.label for it in items], **kwargs)

    def set_epoch(self, epoch: int) -> None:
        """Select the crops of ``epoch`` for plain integer indices."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, key: Key) -> tuple[torch.Tensor, int, int]:
        if isinstance(key, tuple):
            index, epoch = int(key[0]), int(key[1])
        else:
            index, epoch = int(key), self.epoch
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        index %= len(self)
        path = self.paths[index]
        if self.train:
            wave = self._train_crop(path, _crop_rng(self.seed, epoch, index))
        else:
            wave = self._eval_clip(path)
        return torch.from_numpy(wave), int(wave.shape[0]), self.labels[index]

    # -- decoding ---------------------------------------------------------------------

    def _source_frames(self, src_rate: int) -> int:
        """Frames to read at ``src_rate`` to cover ``num_samples`` after resampling."""
        assert self.num_samples is not None
        return math.ceil(self.num_samples * src_rate / self.sample_rate)

    def _resample(self, x: np.ndarray, src_rate: int) -> np.ndarray:
        if src_rate == self.sample_rate:
            return x
        y = torchaudio.functional.resample(torch.from_numpy(x), src_rate, self.sample_rate)
        return y.numpy()

    def _train_crop(self, path: str, rng: np.random.Generator) -> np.ndarray:
        assert self.num_samples is not None
        total, src_rate = _file_frames(path)
        want = self._source_frames(src_rate)
        if total > want:
            start = int(rng.integers(0, total - want + 1))
            x, src_rate = read_audio(path, start=start, frames=want)
        else:  # short clip, or a format that does not report its length
            x, src_rate = read_audio(path)
            if x.shape[0] > want:
                start = int(rng.integers(0, x.shape[0] - want + 1))
                x = x[start : start + want]
        x = self._resample(x, src_rate)
        if x.shape[0] < self.num_samples:
            x = _tile(x, self.num_samples)
        return np.ascontiguousarray(x[: self.num_samples], dtype=np.float32)

    def _eval_clip(self, path: str) -> np.ndarray:
        if self.num_samples is None:
            x, src_rate = read_audio(path)
            return np.ascontiguousarray(self._resample(x, src_rate), dtype=np.float32)
        _, src_rate = _file_frames(path)
        x, src_rate = read_audio(path, frames=self._source_frames(src_rate))
        x = self._resample(x, src_rate)[: self.num_samples]
        return np.ascontiguousarray(x, dtype=np.float32)


def collate(
    batch: Sequence[tuple[torch.Tensor, int, int]],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Zero-pad a list of ``(waveform (time,), length, label)`` items into a batch.

    Returns:
        ``(x, lengths, labels)``: x float32 (batch, max_time), lengths int64 (batch,),
        labels int64 (batch,).
    """
    if len(batch) == 0:
        raise ValueError("batch is empty; collate needs at least one item")
    lengths = torch.tensor([int(length) for _, length, _ in batch], dtype=torch.int64)
    labels = torch.tensor([int(label) for _, _, label in batch], dtype=torch.int64)
    x = torch.zeros(len(batch), int(lengths.max()), dtype=torch.float32)
    for row, (wave, length, _) in enumerate(batch):
        x[row, :length] = wave[:length]
    return x, lengths, labels


class EpochBatchSampler(torch.utils.data.Sampler):
    """Batches of ``(index, epoch)`` keys from a stream of reshuffled epochs.

    Epoch ``e`` is a permutation drawn from a ``torch.Generator`` seeded by
    ``(seed, e)``; consecutive epochs are concatenated and cut into batches of
    ``batch_size`` (a batch may span two epochs, so no item is dropped and datasets
    smaller than a batch work).

    With ``balanced=True`` an epoch holds every item of the largest class once and
    the items of each other class cycled (each pass reshuffled) up to the same count,
    all shuffled together: batches are class-balanced in expectation.

    Args:
        labels: label of each item (used for balancing; any hashable values).
        batch_size: items per batch.
        seed: base seed.
        balanced: oversample minority classes to the size of the largest one.
        num_batches: total batches of the run, skipped ones included (None: endless).
        start_batch: skip this many batches first, to resume a run at that step; the
            remaining batches are exactly those an uninterrupted run would see.
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
    ) -> None:
        if len(labels) == 0:
            raise ValueError("labels is empty; the sampler needs at least one item")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if num_batches is not None and num_batches < 0:
            raise ValueError(f"num_batches must be >= 0 or None, got {num_batches}")
        if start_batch < 0:
            raise ValueError(f"start_batch must be >= 0, got {start_batch}")
        self.labels = list(labels)
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.balanced = bool(balanced)
        self.num_batches = num_batches
        self.start_batch = int(start_batch)
        by_class: dict[Any, list[int]] = {}
        for i, label in enumerate(self.labels):
            by_class.setdefault(label, []).append(i)
        classes = sorted(by_class, key=str)
        self._by_class = [torch.tensor(by_class[c]) for c in classes]

    def _generator(self, epoch: int) -> torch.Generator:
        state = np.random.SeedSequence([self.seed, epoch]).generate_state(2, dtype=np.uint32)
        return torch.Generator().manual_seed(int(state[0]) << 31 ^ int(state[1]))

    def epoch_indices(self, epoch: int) -> torch.Tensor:
        """Item indices of ``epoch`` in sampling order, (epoch_size,) int64."""
        g = self._generator(epoch)
        if not self.balanced:
            return torch.randperm(len(self.labels), generator=g)
        target = max(len(v) for v in self._by_class)
        parts = []
        for members in self._by_class:
            passes = -(-target // len(members))
            cycled = torch.cat(
                [members[torch.randperm(len(members), generator=g)] for _ in range(passes)]
            )
            parts.append(cycled[:target])
        pool = torch.cat(parts)
        return pool[torch.randperm(len(pool), generator=g)]

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
