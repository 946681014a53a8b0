"""Reading a window of an audio file (a training crop) without decoding the whole file.

The one decoder of the package (:mod:`curate.audio.decode`) reads whole files: soundfile
where libsndfile can, PyAV (FFmpeg) otherwise. :func:`read_window` reads a part of a
file the same way: soundfile seeks to the first sample; for what only FFmpeg reads
(MP3 in old libsndfile, M4A/AAC, Opus in MP4/WebM, AMR, ...) the container is sought to
a point ``preroll_s`` seconds before the window, and the frames are decoded from
there, placed by their timestamps, and cut to the window. The pre-roll lets decoders
with inter-frame state (MP3's bit reservoir, AAC's and Opus's overlapping transforms)
settle, so the samples equal those of a full decode of the file (tested per format).
A stream without timestamps is decoded from its start.
"""

from __future__ import annotations

import os
from fractions import Fraction
from typing import Callable

import av
import numpy as np
import soundfile as sf

from curate.audio.decode import (AudioReadError, _frame_to_array, _open_av, read_audio,
                                 read_header)

__all__ = ["read_window"]

Chooser = Callable[[int, int], tuple[int, int]]
# libsndfile major formats whose seek lands on the exact sample (no decoder state).
_EXACT_SEEK = frozenset({"WAV", "WAVEX", "FLAC", "AIFF", "AU", "RAW", "W64", "RF64", "CAF"})


def read_window(path: str | os.PathLike, choose: Chooser, *, preroll_s: float = 0.5
                ) -> tuple[np.ndarray, int]:
    """Decode the window ``choose(frames, sample_rate)`` picks, opening the file once
    where soundfile reads it.

    Args:
        path: an audio file.
        choose: ``(frames, sample_rate) -> (start, count)`` in samples at the file's rate
            (``count`` -1: to the end); ``frames`` may be <= 0 when the length is unknown.
        preroll_s: seconds decoded before the window after a seek (FFmpeg path).

    Returns:
        ``(samples, sample_rate)``: float32 ``(time, channels)``.

    Raises:
        AudioReadError: neither backend reads the file (``error.path`` names it).
    """
    path = os.fspath(path)
    try:
        with sf.SoundFile(path) as f:
            sample_rate = int(f.samplerate)
            start, count = choose(int(f.frames), sample_rate)
            # lossy codecs (MP3, Vorbis, Opus) carry decoder state across frames: seek
            # early and drop the pre-roll, as a full decode would have decoded it
            lead = 0 if f.format in _EXACT_SEEK else min(start, int(preroll_s * sample_rate))
            if start:
                f.seek(start - lead)
            data = f.read(count + lead if count >= 0 else -1, dtype="float32",
                          always_2d=True)
            return np.ascontiguousarray(data[lead:]), sample_rate
    except (sf.LibsndfileError, RuntimeError):
        pass  # not for libsndfile: FFmpeg below
    except (OSError, ValueError) as exc:
        raise AudioReadError(f"cannot read audio: {exc}", path) from None
    header = read_header(path)
    sample_rate, frames = int(header["sample_rate"]), int(header["num_samples"])
    start, count = choose(frames, sample_rate)
    end = start + count if count >= 0 else (frames if frames > 0 else None)
    return _av_window(path, start, end, sample_rate, preroll_s), sample_rate


def _av_window(path: str, start: int, end: int | None, sample_rate: int, preroll_s: float
               ) -> np.ndarray:
    """Samples ``[start, end)`` (end None: to the end of the stream) through FFmpeg."""
    container, stream = _open_av(path)
    try:
        with container:
            frames = container.decode(stream)
            first = next(frames, None)
            if first is None:
                return np.zeros((0, stream.codec_context.channels or 1), np.float32)
            if first.pts is None or stream.time_base is None:
                return _from_full_decode(path, start, end)
            origin = first.pts  # the timestamp of sample 0 of a full decode
            base = Fraction(stream.time_base)
            if start > int(preroll_s * sample_rate):
                target = Fraction(start, sample_rate) - Fraction(preroll_s).limit_denominator()
                container.seek(int(target / base) + origin, stream=stream, backward=True,
                               any_frame=False)
                frames = container.decode(stream)
            else:
                frames = _chain(first, frames)
            chunks: list[np.ndarray] = []
            for frame in frames:
                if frame.samples == 0:
                    continue
                if frame.pts is None:
                    return _from_full_decode(path, start, end)
                pos = int(round((frame.pts - origin) * base * sample_rate))
                if end is not None and pos >= end:
                    break
                if pos + frame.samples <= start:
                    continue
                data = _frame_to_array(frame, np.dtype(np.float32))
                lo = max(0, start - pos)
                hi = data.shape[0] if end is None else min(data.shape[0], end - pos)
                chunks.append(data[lo:hi])
    except (av.FFmpegError, OSError) as err:
        raise AudioReadError(f"decoding failed: {err}", path) from None
    if not chunks:
        return np.zeros((0, 1), np.float32)
    return np.ascontiguousarray(np.concatenate(chunks))


def _chain(first, rest):
    yield first
    yield from rest


def _from_full_decode(path: str, start: int, end: int | None) -> np.ndarray:
    samples, _ = read_audio(path, dtype="float32")
    return np.ascontiguousarray(samples[start:end])
