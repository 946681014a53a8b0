"""The chain's sources of randomness: the CPU stage's ``numpy`` generator per utterance
and the device stage's ``torch`` generator per batch, both functions of
``(seed, epoch, key)``."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np
import torch


def _seed_words(*parts: Any) -> list[int]:
    digest = hashlib.blake2b(json.dumps([str(p) for p in parts]).encode(), digest_size=16)
    raw = digest.digest()
    return [int.from_bytes(raw[i:i + 4], "little") for i in range(0, 16, 4)]


def utterance_rng(seed: int, epoch: int, key: Any) -> np.random.Generator:
    """The CPU-stage generator of one utterance: a function of (chain seed, epoch, key),
    where ``key`` is the utterance's index or id; independent of worker and order."""
    return np.random.default_rng(_seed_words(seed, epoch, key))


def batch_generator(seed: int, epoch: int, step: Any, device: str | torch.device = "cpu"
                    ) -> torch.Generator:
    """The device-stage generator of one batch: a function of (seed, epoch, step)."""
    words = _seed_words(seed, epoch, step, "device")
    return torch.Generator(device=device).manual_seed((words[0] << 31) ^ words[1])
