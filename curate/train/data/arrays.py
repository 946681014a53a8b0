"""Memory-light arrays of a training set (:class:`TrainData`): paths in one UTF-8 buffer,
labels, durations, group codes, weights; cheap to share with forked loader workers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from curate.train.data.io import file_seconds
from curate.train.data.items import PathType, as_label


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


def as_strings(values: Sequence[Any]) -> PackedStrings:
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
        packed_paths = as_strings([str(p) for p in paths]) if not isinstance(
            paths, PackedStrings) else paths
        coded = {}
        for name, values in (groups or {}).items():
            if len(values) != n:
                raise ValueError(f"groups[{name!r}] has {len(values)} entries for {n} paths")
            coded[name] = _codes(values)
        return cls(
            paths=packed_paths,
            labels=np.asarray([as_label(v) for v in labels], dtype=np.int64),
            utt_ids=as_strings(utt_ids) if utt_ids is not None else packed_paths,
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
