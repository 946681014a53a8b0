"""Counter-based seeds: every random draw of the data pipeline is keyed by (seed, epoch,
index).
"""

from __future__ import annotations

import numpy as np


def derive_seed(*parts: int) -> int:
    """A 63-bit seed from integers (``numpy.random.SeedSequence``): stable, well mixed."""
    state = np.random.SeedSequence([int(p) & 0xFFFFFFFFFFFFFFFF for p in parts])
    words = state.generate_state(2, dtype=np.uint32)
    return (int(words[0]) << 31) ^ int(words[1])


def crop_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, epoch, index]))


def augment_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The CPU augmentation stage's generator of one item (a stream apart from the crop)."""
    return np.random.default_rng(np.random.SeedSequence([seed, epoch, index, 1]))
