"""torch CPU threads for a block of code (benchmarks pin them)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator, Optional

import torch


@contextmanager
def torch_threads(threads: Optional[int]) -> Iterator[int]:
    """Run with ``threads`` intra-op CPU threads (None keeps torch's setting); yields the
    number in use and restores the previous setting."""
    before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)
