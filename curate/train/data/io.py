"""Reading audio windows for training: a crop of a file, decoded and resampled."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import soundfile as sf

from curate.train.data.items import AudioReadError, PathType


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


def tile(x: np.ndarray, n: int) -> np.ndarray:
    """Repeat ``x`` end to end and cut to exactly ``n`` samples."""
    reps = -(-n // x.shape[0])
    return np.tile(x, reps)[:n]
