"""Training items and labels: ``1 = bonafide``, ``0 = spoof``; the errors of reading them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from os import PathLike
from typing import Any, Union

import numpy as np
import torch

from curate.errors import CurateError

BONAFIDE = 1


SPOOF = 0


REGIMES = ("fixed", "long")


PathType = Union[str, "PathLike[str]"]


Key = Union[int, tuple[int, int]]


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
