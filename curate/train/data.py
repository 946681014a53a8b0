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
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from os import PathLike
from typing import Any, NamedTuple, Union

import numpy as np
import soundfile as sf
import torch
import torchaudio

from curate.errors import CurateError

__all__ = [
    "BONAFIDE",
    "SPOOF",
    "REGIMES",
    "SAMPLERS",
    "AudioReadError",
    "NonFiniteAudioError",
    "check_finite",
    "Item",
    "as_label",
    "as_items",
    "read_window",
    "PackedStrings",
    "TrainData",
    "CropDataset",
    "Batch",
    "collate",
    "EpochPlan",
    "EpochBatchSampler",
    "DynamicBatchSampler",
    "ShardedBatchSampler",
    "derive_seed",
]

BONAFIDE = 1
SPOOF = 0
REGIMES = ("fixed", "long")
SAMPLERS = ("natural", "balanced", "temperature", "weighted")

PathType = Union[str, "PathLike[str]"]
Key = Union[int, tuple[int, int]]


class AudioReadError(CurateError):
    """An audio file could not be decoded; the message names the file."""


class NonFiniteAudioError(CurateError):
    """Decoded audio holds NaN or inf samples; the message names the utterances."""


def check_finite(x: torch.Tensor, describe: Callable[[int], str], what: str = "training"
                 ) -> None:
    """Raise :class:`NonFiniteAudioError` when the batch ``x`` (batch, time) holds NaN or
    inf samples, naming the rows that do with ``describe(row)`` (an utt_id and a path).

    Costs one ``torch.isfinite(x).all()`` per batch (on the CPU batch, so no device
    synchronisation); the offending rows are looked for only when it fails.
    """
    if bool(torch.isfinite(x).all()):
        return
    rows = (~torch.isfinite(x)).any(dim=1).nonzero().flatten().tolist()
    names = list(dict.fromkeys(describe(int(r)) for r in rows))  # an item may repeat
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    raise NonFiniteAudioError(
        f"the {what} audio of {shown} holds NaN or inf samples; `curate probe` marks such "
        f"files with status 'nan', which selections leave out: re-probe the corpus and "
        f"freeze the selection again (or fix or remove the files)")


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


def read_window(
    path: PathType, choose: Any
) -> tuple[np.ndarray, int]:
    """Open a file once and decode the window ``choose(frames, sample_rate)`` picks.

    ``choose`` returns ``(start, count)`` in frames at the file's rate (count -1: to the
    end); ``frames`` may be <= 0 for a format that does not report its length.

    Returns:
        ``(samples, sample_rate)``: float32 mono (channels averaged).
    """
    try:
        with sf.SoundFile(str(path)) as f:
            sample_rate = f.samplerate
            start, count = choose(int(f.frames), int(sample_rate))
            if start:
                f.seek(start)
            data = f.read(count, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as exc:
        raise AudioReadError(
            f"cannot decode audio file {path}: {exc}; check the file, or re-run "
            "`curate probe` so unreadable files are marked and left out of selections"
        ) from exc
    if data.shape[0] == 0:
        raise AudioReadError(
            f"audio file {path} has no samples in the requested window; leave empty files "
            "out of the selection"
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


def file_seconds(paths: Sequence[PathType]) -> np.ndarray:
    """Durations in seconds from the file headers (for data without catalog durations)."""
    out = np.empty(len(paths), dtype=np.float32)
    for i, path in enumerate(paths):
        frames, rate = _file_frames(path)
        out[i] = frames / rate if frames > 0 else np.nan
    return out


def _tile(x: np.ndarray, n: int) -> np.ndarray:
    """Repeat ``x`` end to end and cut to exactly ``n`` samples."""
    reps = -(-n // x.shape[0])
    return np.tile(x, reps)[:n]


# --------------------------------------------------------------------------- seeds


def derive_seed(*parts: int) -> int:
    """A 63-bit seed from integers (``numpy.random.SeedSequence``): stable, well mixed."""
    state = np.random.SeedSequence([int(p) & 0xFFFFFFFFFFFFFFFF for p in parts])
    words = state.generate_state(2, dtype=np.uint32)
    return (int(words[0]) << 31) ^ int(words[1])


def _crop_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, epoch, index]))


def _augment_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The CPU augmentation stage's generator of one item (a stream apart from the crop)."""
    return np.random.default_rng(np.random.SeedSequence([seed, epoch, index, 1]))


# --------------------------------------------------------------------------- arrays


class PackedStrings(Sequence):
    """An immutable sequence of strings stored as one UTF-8 buffer plus offsets.

    Two numpy arrays instead of millions of Python objects: cheap to pickle into loader
    workers, and reading an item never touches a reference count that would make a
    forked worker copy the page (the copy-on-read growth of Python lists).
    """

    def __init__(self, strings: Sequence[Any]) -> None:
        encoded = [str(s).encode("utf-8") for s in strings]
        self._offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
        np.cumsum([len(b) for b in encoded], out=self._offsets[1:])
        self._buffer = np.frombuffer(b"".join(encoded), dtype=np.uint8).copy()

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        n = len(self)
        index = int(index)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for {n} strings")
        index %= n
        lo, hi = self._offsets[index], self._offsets[index + 1]
        return self._buffer[lo:hi].tobytes().decode("utf-8")

    def take(self, indices: Sequence[int]) -> list[str]:
        return [self[i] for i in indices]

    @property
    def nbytes(self) -> int:
        return int(self._buffer.nbytes + self._offsets.nbytes)


def _as_strings(values: Sequence[Any]) -> PackedStrings:
    return values if isinstance(values, PackedStrings) else PackedStrings(values)


@dataclass
class TrainData:
    """The labelled items a run trains on, as memory-light arrays.

    Attributes:
        paths: audio files.
        labels: int64 (n,), 1 = bonafide, 0 = spoof.
        utt_ids: catalog ids (default: the paths).
        durations: float32 seconds (n,), or None (read from headers when needed).
        groups: column name -> (codes int32 (n,), names) for temperature sampling and
            per-group reports (corpus, language, generator, ...).
        weights: float64 (n,) sampling weights (a selection's ``weight``), or None.
    """

    paths: PackedStrings
    labels: np.ndarray
    utt_ids: PackedStrings
    durations: np.ndarray | None = None
    groups: dict[str, tuple[np.ndarray, list[str]]] = field(default_factory=dict)
    weights: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.paths)

    @classmethod
    def from_lists(
        cls,
        paths: Sequence[PathType],
        labels: Sequence[Any],
        *,
        utt_ids: Sequence[str] | None = None,
        durations: Sequence[float] | None = None,
        groups: dict[str, Sequence[Any]] | None = None,
        weights: Sequence[float] | None = None,
    ) -> TrainData:
        """Build from plain sequences; labels as in :func:`as_label`."""
        if len(paths) != len(labels):
            raise ValueError(
                f"labels has {len(labels)} entries but paths has {len(paths)}; "
                "pass one label per path"
            )
        n = len(paths)
        for name, values in (("utt_ids", utt_ids), ("durations", durations),
                             ("weights", weights)):
            if values is not None and len(values) != n:
                raise ValueError(f"{name} has {len(values)} entries for {n} paths")
        packed_paths = _as_strings([str(p) for p in paths]) if not isinstance(
            paths, PackedStrings) else paths
        coded = {}
        for name, values in (groups or {}).items():
            if len(values) != n:
                raise ValueError(f"groups[{name!r}] has {len(values)} entries for {n} paths")
            coded[name] = _codes(values)
        return cls(
            paths=packed_paths,
            labels=np.asarray([as_label(v) for v in labels], dtype=np.int64),
            utt_ids=_as_strings(utt_ids) if utt_ids is not None else packed_paths,
            durations=None if durations is None else np.asarray(durations, dtype=np.float32),
            groups=coded,
            weights=None if weights is None else np.asarray(weights, dtype=np.float64),
        )

    @classmethod
    def from_frame(cls, frame: Any, *, group_columns: Sequence[str] = (
            "corpus", "language", "generator", "speaker", "label")) -> TrainData:
        """From a selection's rows (``curate.select.freeze.selection_rows``): ``abspath``,
        ``label``, ``utt_id`` and, where present, ``duration_s``, ``weight`` and group
        columns."""
        groups = {c: frame[c].astype("string").fillna("<none>").tolist()
                  for c in group_columns if c in frame.columns}
        durations = frame["duration_s"].to_numpy(dtype=np.float64) if "duration_s" in \
            frame.columns else None
        weights = frame["weight"].to_numpy(dtype=np.float64) if "weight" in frame.columns \
            else None
        return cls.from_lists(frame["abspath"].tolist(), frame["label"].tolist(),
                              utt_ids=frame["utt_id"].tolist(), durations=durations,
                              groups=groups, weights=weights)

    def seconds(self) -> np.ndarray:
        """Durations in seconds; missing ones read from the file headers (once)."""
        if self.durations is None or np.isnan(self.durations).any():
            known = self.durations
            headers = file_seconds([self.paths[i] for i in range(len(self))]) if known is None \
                else known.copy()
            if known is not None:
                missing = np.flatnonzero(np.isnan(known))
                headers[missing] = file_seconds([self.paths[i] for i in missing])
            self.durations = headers.astype(np.float32)
        return self.durations


def _codes(values: Sequence[Any]) -> tuple[np.ndarray, list[str]]:
    names = sorted({str(v) for v in values})
    lookup = {name: i for i, name in enumerate(names)}
    return np.asarray([lookup[str(v)] for v in values], dtype=np.int32), names


# --------------------------------------------------------------------------- dataset


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
        self.paths = _as_strings([str(p) for p in paths]) if not isinstance(
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
            from curate.augment.chain import load_chain

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
        path = self.paths[index]
        steps: list[dict] = []
        if self.train:
            rng = _crop_rng(self.seed, epoch, index)
            if self.regime == "fixed":
                wave = self._train_crop(path, rng)
            else:
                wave = self._long_crop(path, rng)
            chain = self.chain
            if chain is not None and getattr(chain, "has_cpu_steps", True):
                wave, steps = self._augment(chain, wave, _augment_rng(self.seed, epoch, index))
        else:
            wave = self._eval_clip(path)
        label = int(self._labels[index])
        if self.return_meta:
            return torch.from_numpy(wave), int(wave.shape[0]), label, index, epoch, steps
        return torch.from_numpy(wave), int(wave.shape[0]), label

    # -- decoding ---------------------------------------------------------------------

    def _source_frames(self, num_samples: int, src_rate: int) -> int:
        """Frames to read at ``src_rate`` to cover ``num_samples`` after resampling."""
        return math.ceil(num_samples * src_rate / self.sample_rate)

    def _resample(self, x: np.ndarray, src_rate: int) -> np.ndarray:
        if src_rate == self.sample_rate:
            return x
        y = torchaudio.functional.resample(torch.from_numpy(x), src_rate, self.sample_rate)
        return y.numpy()

    def _random_window(self, path: str, rng: np.random.Generator,
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

        x, src_rate = read_window(path, choose)
        if x.shape[0] > want:
            start = int(rng.integers(0, x.shape[0] - want + 1))
            x = x[start : start + want]
        return self._resample(x, src_rate)[:num_samples]

    def _train_crop(self, path: str, rng: np.random.Generator) -> np.ndarray:
        assert self.num_samples is not None
        x = self._random_window(path, rng, self.num_samples)
        if x.shape[0] < self.num_samples:
            x = _tile(x, self.num_samples)
        return np.ascontiguousarray(x[: self.num_samples], dtype=np.float32)

    def _long_crop(self, path: str, rng: np.random.Generator) -> np.ndarray:
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

        x, src_rate = read_window(path, choose)
        if want and x.shape[0] > want:  # a format without a length: crop after decoding
            start = int(rng.integers(0, x.shape[0] - want + 1))
            x = x[start : start + want]
        return np.ascontiguousarray(self._resample(x, src_rate), dtype=np.float32)

    def _eval_clip(self, path: str) -> np.ndarray:
        if self.num_samples is None:
            x, src_rate = read_window(path, lambda _total, _rate: (0, -1))  # the whole file
            return np.ascontiguousarray(self._resample(x, src_rate), dtype=np.float32)
        x, src_rate = read_window(
            path, lambda _total, rate: (0, self._source_frames(self.num_samples, rate)))
        x = self._resample(x, src_rate)[: self.num_samples]
        return np.ascontiguousarray(x, dtype=np.float32)

    def _augment(self, chain: Any, wave: np.ndarray,
                 rng: np.random.Generator) -> tuple[np.ndarray, list[dict]]:
        y, steps = chain.cpu_stage(wave, self.sample_rate, rng)
        y = np.asarray(y, dtype=np.float32).reshape(-1)
        if self.regime == "fixed" and y.shape[0] != wave.shape[0]:  # keep the crop length
            y = _tile(y, wave.shape[0]) if y.shape[0] < wave.shape[0] else y[: wave.shape[0]]
        if not np.isfinite(y).all():
            raise FloatingPointError(
                "the augmentation chain's CPU stage returned NaN/inf samples; check the "
                "chain's steps and parameters"
            )
        return np.ascontiguousarray(y), list(steps or [])


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


# --------------------------------------------------------------------------- samplers


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
