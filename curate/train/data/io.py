"""Reading audio windows for training: a crop of a file, decoded and resampled."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from curate.audio.decode import AudioReadError, read_header
from curate.audio.window import read_window as audio_window
from curate.train.data.items import PathType


def read_window(
    path: PathType, choose: Any
) -> tuple[np.ndarray, int]:
    """Decode the window ``choose(frames, sample_rate)`` picks, with the package's one
    decoder (:func:`curate.audio.window.read_window`: soundfile, else FFmpeg seeking to
    the window), so every format the probe marks ok trains and scores.

    ``choose`` returns ``(start, count)`` in frames at the file's rate (count -1: to the
    end); ``frames`` may be <= 0 for a format that does not report its length.

    Returns:
        ``(samples, sample_rate)``: float32 mono (channels averaged).
    """
    try:
        data, sample_rate = audio_window(str(path), choose)
    except AudioReadError as exc:
        raise AudioReadError(
            f"cannot decode audio file {path}: {exc}; check the file, or re-run "
            "`curate probe` so unreadable files are marked and left out of selections"
        ) from None
    if data.shape[0] == 0:
        raise AudioReadError(
            f"audio file {path} has no samples in the requested window; leave empty files "
            "out of the selection"
        )
    mono = data[:, 0] if data.shape[1] == 1 else data.mean(axis=1)
    return np.ascontiguousarray(mono, dtype=np.float32), sample_rate


def _file_frames(path: PathType) -> tuple[int, int]:
    """(frames, sample_rate) of a file from its header; frames may be <= 0 if unknown."""
    try:
        header = read_header(str(path))
    except AudioReadError as exc:
        raise AudioReadError(
            f"cannot open audio file {path}: {exc}; check the path and the file format"
        ) from None
    return int(header["num_samples"]), int(header["sample_rate"])


def file_seconds(paths: Sequence[PathType]) -> np.ndarray:
    """Durations in seconds from the file headers (for data without catalog durations)."""
    out = np.empty(len(paths), dtype=np.float32)
    for i, path in enumerate(paths):
        frames, rate = _file_frames(path)
        out[i] = frames / rate if frames > 0 else np.nan
    return out


def tile(x: np.ndarray, n: int) -> np.ndarray:
    """Repeat ``x`` end to end and cut to exactly ``n`` samples."""
    reps = -(-n // x.shape[0])
    return np.tile(x, reps)[:n]
