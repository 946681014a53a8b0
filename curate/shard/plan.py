"""Which item goes to which shard: a pure function of the selection's rows and the options.

Items of each split are shuffled (seeded by ``seed`` and the split's name), so every
shard is a random sample of its split and a reader that mixes a few shards sees mixed
corpora, languages and labels; then they are cut into shards of ``shard_items`` items
or of about ``shard_bytes`` bytes. Sizes in bytes are estimated from the probe facts
(duration, channels, the output rate) before anything is encoded, so the plan never
depends on the encoder and a resumed run plans exactly the same shards.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from curate.errors import CurateError

FORMATS = ("flac", "wav")

#: Bytes per second of 16-bit PCM per channel and Hz, times these ratios.
_FLAC_RATIO = 0.6  # FLAC of speech: ~50-70 % of 16-bit PCM
_TAR_OVERHEAD = 4 * 512 + 400  # two members: headers, padding, the JSON

_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


@dataclass(frozen=True)
class ShardSize:
    """A shard's target size: ``items`` per shard, or about ``bytes`` per shard."""

    items: int | None = None
    bytes: int | None = None

    def __str__(self) -> str:
        return f"{self.items} items" if self.items else f"{self.bytes} bytes"


def parse_shard_size(text: str | int) -> ShardSize:
    """``"1GB"``, ``"500MB"``, ``"2GiB"`` -> bytes; ``"1000"`` or ``"1000 items"`` ->
    items per shard.

    Raises:
        CurateError: anything else, or a size below one item / 1 kB.
    """
    value = str(text).strip()
    items = re.match(r"^(\d+)\s*(items?)?$", value)
    if items:
        n = int(items.group(1))
        if n < 1:
            raise CurateError(f"--shard-size {value!r} must be at least 1 item")
        return ShardSize(items=n)
    match = _SIZE.match(value)
    unit = match.group(2).lower() if match else None
    if not match or unit not in _UNITS or unit in ("", "b") and "." in match.group(1):
        raise CurateError(f"--shard-size {value!r} is not a size; give bytes with a unit "
                          f"like 1GB, 500MB or 2GiB, or a number of items like 1000")
    size = int(float(match.group(1)) * _UNITS[unit])
    if size < 1000:
        raise CurateError(f"--shard-size {value!r} is below 1 kB; give e.g. 1GB, or a "
                          f"number of items like 1000")
    return ShardSize(bytes=size)


@dataclass(frozen=True)
class PlannedShard:
    """One shard to write: its file name, split, number within the split, and items
    (row dicts with ``utt_id``, ``abspath``, the metadata written to its JSON, and
    ``sample_rate``/``channels`` facts)."""

    name: str
    split: str
    number: int
    rows: list[dict] = field(repr=False)


def shard_name(split: str, number: int) -> str:
    """``SPLIT/SPLIT-000000.tar`` (the layout of `curate export --format webdataset`;
    a split name is percent-encoded where it holds other than letters, digits, ``-``,
    ``_`` and ``.``)."""
    from curate.export.common import escape

    name = escape(split, keep="-_.")
    return f"{name}/{name}-{number:06d}.tar"


def estimated_bytes(row: dict, fmt: str, sample_rate: int | None) -> float:
    """About the bytes ``row`` takes in a shard: 16-bit PCM of its duration at the
    output rate (``sample_rate``, else the file's), times 0.6 for FLAC."""
    rate = sample_rate or row.get("sample_rate") or 16000
    channels = row.get("channels") or 1
    seconds = row.get("duration_s") or 0.0
    pcm = float(seconds) * float(rate) * float(channels) * 2
    return (pcm * _FLAC_RATIO if fmt == "flac" else pcm + 44) + _TAR_OVERHEAD


def _split_rng(seed: int, split: str) -> np.random.Generator:
    digest = hashlib.blake2b(f"{seed}\x00{split}".encode(), digest_size=8).digest()
    return np.random.default_rng(int.from_bytes(digest, "little"))


def plan_shards(rows: list[dict], size: ShardSize, *, fmt: str = "flac",
                sample_rate: int | None = None, seed: int = 0) -> list[PlannedShard]:
    """Cut each split's rows (shuffled by ``seed``) into shards of ``size``.

    Args:
        rows: the selection's rows (``utt_id``, ``split``, ``duration_s``, facts ...),
            in any order (they are sorted by utt_id first).
        size: items per shard, or target bytes per shard (estimated; every shard holds
            at least one item).
        fmt: ``flac`` or ``wav`` (the size estimate).
        sample_rate: the output rate in Hz (None: each file's own).
        seed: the shuffle's seed.

    Returns:
        The shards, split by split (sorted by name), numbered from 0 in each split.
    """
    by_split: dict[str, list[dict]] = {}
    for row in sorted(rows, key=lambda r: r["utt_id"]):
        by_split.setdefault(row["split"], []).append(row)
    shards: list[PlannedShard] = []
    for split in sorted(by_split):
        items = by_split[split]
        number = 0
        order = _split_rng(seed, split).permutation(len(items))
        current: list[dict] = []
        weight = 0.0
        for i in order.tolist():
            row = items[i]
            cost = estimated_bytes(row, fmt, sample_rate)
            full = (len(current) >= size.items) if size.items else \
                (current and weight + cost > size.bytes)
            if full:
                shards.append(_shard(split, number, current))
                number += 1
                current, weight = [], 0.0
            current.append(row)
            weight += cost
        if current:
            shards.append(_shard(split, number, current))
    return shards


def _shard(split: str, number: int, rows: list[dict]) -> PlannedShard:
    return PlannedShard(shard_name(split, number), split, number, rows)


def plan_hash(shards: list[PlannedShard], options: dict[str, Any]) -> str:
    """A hash of which item goes to which shard, and of the options that shape the
    bytes: a resumed run must plan the same."""
    digest = hashlib.blake2b(digest_size=12)
    digest.update(json.dumps(options, sort_keys=True).encode())
    for shard in shards:
        digest.update(shard.name.encode() + b"\x00")
        for row in shard.rows:
            digest.update(str(row["utt_id"]).encode() + b"\x01")
    return digest.hexdigest()
