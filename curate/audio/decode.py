"""Decode and inspect single audio files.

Two backends, tried in order:

1. **soundfile** (libsndfile): WAV / WAVEX / RF64 / W64, FLAC, OGG (Vorbis, Opus),
   MP3 (libsndfile >= 1.1), AIFF, NIST SPHERE, ... Fast and sample-exact.
2. **PyAV** (FFmpeg): whatever libsndfile cannot read, e.g. M4A / MP4 / AAC, WebM and
   MP3 files that libsndfile rejects.

Both functions here are pure (no global state, no logging set-up) so they can run in
worker processes. Every failure to open or decode a file raises :class:`AudioReadError`
with a short reason suitable for the catalog's ``error`` column.

Backend notes
-------------
- libsndfile reads a WAV whose data chunk is cut short (incomplete download) without
  complaint: ``num_samples`` is what is actually present, not what the header declares.
- PyAV (FFmpeg) drops AAC encoder priming in MP4/M4A through the edit list but keeps the
  padding of the last AAC frame; :func:`read_audio` trims that padding to the stream's
  declared duration when the stream's time base is sample-exact (``1 / sample_rate``).
  Raw ADTS ``.aac`` has no exact duration: its header duration is FFmpeg's bit-rate
  estimate and its decoded length includes the priming frame.
"""

from __future__ import annotations

import os
import stat
from fractions import Fraction

import av
import numpy as np
import soundfile as sf

from curate.errors import CurateError

__all__ = ["AudioReadError", "read_header", "read_audio", "read_header_and_audio"]

#: Output dtypes accepted by :func:`read_audio`.
DTYPES = ("float32", "float64")

# libsndfile major-format names (lowercased) that are reported under another name.
_SF_FORMAT_ALIASES = {"wavex": "wav"}

# Full-scale divisors that map FFmpeg integer sample formats to [-1, 1).
_INT_SCALE = {"u8": 128.0, "s16": 32768.0, "s32": 2147483648.0, "s64": 9223372036854775808.0}


class AudioReadError(CurateError):
    """A file could not be opened or decoded as audio (the package's one such error).

    ``str(error)`` is the reason as given: the probe gives a short reason (no path), fit
    for the catalog's ``error`` column, with the file in ``error.path``; training and
    scoring give a sentence naming the file and the fix. Picklable, so it survives a
    process-pool boundary.
    """

    def __init__(self, reason: str, path: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.path = path

    def __str__(self) -> str:
        return self.reason

    def __reduce__(self):
        return (type(self), (self.reason, self.path))


def read_header(path: str | os.PathLike) -> dict:
    """Read the audio facts of a file from its header, without decoding when possible.

    Args:
        path: audio file.

    Returns:
        dict with ``sample_rate`` (int, Hz), ``channels`` (int), ``num_samples`` (int,
        frames, i.e. samples per channel), ``duration_s`` (float, seconds,
        ``num_samples / sample_rate``) and ``format`` (str, lowercase container name:
        ``wav``, ``flac``, ``mp3``, ``ogg``, ``m4a``, ``mp4``, ``aac``, ...).

        Through PyAV the length comes from the stream's duration; when the stream has
        none the file is decoded to count its samples.

    Raises:
        AudioReadError: the file is missing, not a regular file, or neither libsndfile
            nor FFmpeg can open it as audio.
    """
    path = _check_path(path)
    try:
        with sf.SoundFile(path) as f:  # the header only: no frame is decoded
            return _sf_header(f)
    except RuntimeError as sf_err:  # soundfile.LibsndfileError
        try:
            return _av_header(path)
        except AudioReadError as av_err:
            raise _combined_error(path, sf_err, av_err) from None


def read_audio(path: str | os.PathLike, *, dtype: str = "float32") -> tuple[np.ndarray, int]:
    """Decode a whole audio file.

    Args:
        path: audio file.
        dtype: ``"float32"`` (default) or ``"float64"``.

    Returns:
        ``(samples, sample_rate)``: samples of shape ``(time, channels)`` and the given
        dtype, full scale at 1.0 (integer PCM maps to [-1, 1); floating-point files are
        returned as stored and may exceed 1 or hold NaN), and the sample rate in Hz.

    Raises:
        ValueError: ``dtype`` is not one of :data:`DTYPES`.
        AudioReadError: the file is missing, not a regular file, or neither libsndfile
            nor FFmpeg can decode it.
    """
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    path = _check_path(path)
    try:
        samples, sample_rate = sf.read(path, dtype=dtype, always_2d=True)
    except RuntimeError as sf_err:  # soundfile.LibsndfileError
        try:
            return _av_decode(path, np.dtype(dtype))
        except AudioReadError as av_err:
            raise _combined_error(path, sf_err, av_err) from None
    return samples, int(sample_rate)


def read_header_and_audio(path: str | os.PathLike, *, dtype: str = "float32"
                          ) -> tuple[dict, np.ndarray, int]:
    """The header facts and the decoded samples of a file, opening it once.

    The same as :func:`read_header` followed by :func:`read_audio` (same values, same
    errors), at the cost of one open: the probe's one decode, shared by every fact.

    Returns:
        ``(header, samples, sample_rate)``: ``header`` as :func:`read_header` returns it
        (what the file declares), ``samples`` ``(time, channels)`` as :func:`read_audio`
        returns them and the sample rate in Hz.

    Raises:
        ValueError: ``dtype`` is not one of :data:`DTYPES`.
        AudioReadError: as :func:`read_audio`.
    """
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    path = _check_path(path)
    header = None
    try:
        with sf.SoundFile(path) as f:
            header = _sf_header(f)
            samples = f.read(dtype=dtype, always_2d=True)
            return header, samples, int(f.samplerate)
    except RuntimeError as sf_err:  # soundfile.LibsndfileError, opening or decoding
        try:
            if header is None:
                header = _av_header(path)
            samples, sample_rate = _av_decode(path, np.dtype(dtype))
        except AudioReadError as av_err:
            raise _combined_error(path, sf_err, av_err) from None
        return header, samples, sample_rate


# ---------------------------------------------------------------------------- helpers


def _sf_header(f: sf.SoundFile) -> dict:
    fmt = f.format.lower()
    return _header_dict(sample_rate=int(f.samplerate), channels=int(f.channels),
                        num_samples=int(f.frames), fmt=_SF_FORMAT_ALIASES.get(fmt, fmt))


def _check_path(path: str | os.PathLike) -> str:
    path = os.fspath(path)
    try:
        mode = os.stat(path).st_mode  # one stat: exists and is a regular file
    except (OSError, ValueError):
        raise AudioReadError("file not found", path) from None
    if not stat.S_ISREG(mode):
        raise AudioReadError("not a regular file", path)
    return path


def _header_dict(*, sample_rate: int, channels: int, num_samples: int, fmt: str) -> dict:
    return {
        "sample_rate": sample_rate,
        "channels": channels,
        "num_samples": num_samples,
        "duration_s": num_samples / sample_rate if sample_rate > 0 else 0.0,
        "format": fmt,
    }


def _combined_error(path: str, sf_err: Exception, av_err: AudioReadError) -> AudioReadError:
    """One short reason from both backends' failures."""
    sf_reason = getattr(sf_err, "error_string", None) or str(sf_err)
    sf_reason = sf_reason.strip().rstrip(".")
    return AudioReadError(f"cannot read audio (libsndfile: {sf_reason}; ffmpeg: {av_err})", path)


def _ffmpeg_reason(err: Exception) -> str:
    reason = getattr(err, "strerror", None) or str(err) or type(err).__name__
    return reason.strip().rstrip(".")


def _av_format_name(container: av.container.InputContainer, path: str) -> str:
    """Pick one lowercase name from FFmpeg's demuxer name list (``mov,mp4,m4a,...``).

    The file's extension wins when the demuxer lists it, so ``.m4a`` gives ``m4a`` and
    ``.mp4`` gives ``mp4``; otherwise the demuxer's first name.
    """
    names = container.format.name.lower().split(",")
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    return ext if ext in names else names[0]


def _open_av(path: str):
    """Open with FFmpeg and return ``(container, first audio stream)``."""
    try:
        container = av.open(path)
    except (av.FFmpegError, OSError, ValueError) as err:
        raise AudioReadError(_ffmpeg_reason(err), path) from None
    if not container.streams.audio:
        container.close()
        raise AudioReadError("no audio stream", path)
    return container, container.streams.audio[0]


def _stream_num_samples(stream, sample_rate: int) -> int | None:
    """Samples per channel from the stream's declared duration, or None when absent."""
    if stream.duration is None or stream.time_base is None or stream.duration <= 0:
        return None
    return int(round(Fraction(stream.duration) * stream.time_base * sample_rate))


def _av_header(path: str) -> dict:
    container, stream = _open_av(path)
    with container:
        cc = stream.codec_context
        sample_rate = int(cc.sample_rate or stream.rate or 0)
        channels = int(cc.channels or 0)
        if sample_rate <= 0:
            raise AudioReadError("audio stream has no sample rate", path)
        if channels <= 0:
            raise AudioReadError("audio stream has no channels", path)
        num_samples = _stream_num_samples(stream, sample_rate)
        fmt = _av_format_name(container, path)
        if num_samples is None:
            num_samples = 0
            try:
                for frame in container.decode(stream):
                    num_samples += frame.samples
            except (av.FFmpegError, OSError, ValueError) as err:
                raise AudioReadError(f"decoding failed: {_ffmpeg_reason(err)}", path) from None
    return _header_dict(sample_rate=sample_rate, channels=channels,
                        num_samples=num_samples, fmt=fmt)


def _frame_to_array(frame, dtype: np.dtype) -> np.ndarray:
    """One decoded ``av.AudioFrame`` as ``(time, channels)`` floats, full scale 1.0.

    PyAV gives planar formats as ``(channels, time)`` and packed formats as
    ``(1, time * channels)`` (interleaved).
    """
    fmt = frame.format
    channels = frame.layout.nb_channels
    raw = frame.to_ndarray()
    if fmt.is_planar:
        data = raw.T
    else:
        data = raw.reshape(-1, channels)
    data = data[: frame.samples]
    base = fmt.packed.name  # e.g. 'fltp' -> 'flt', 's16p' -> 's16'
    if base in ("flt", "dbl"):
        return data.astype(dtype, copy=False)
    if base not in _INT_SCALE:
        raise ValueError(f"unsupported sample format {fmt.name!r}")
    work = np.float32 if base in ("u8", "s16") else np.float64  # exact for <= 16 bits
    out = data.astype(work)
    if base == "u8":
        out -= 128.0
    out /= _INT_SCALE[base]
    return out.astype(dtype, copy=False)


def _av_decode(path: str, dtype: np.dtype) -> tuple[np.ndarray, int]:
    container, stream = _open_av(path)
    with container:
        cc = stream.codec_context
        sample_rate = int(cc.sample_rate or stream.rate or 0)
        channels = int(cc.channels or 0)
        chunks: list[np.ndarray] = []
        try:
            for frame in container.decode(stream):
                if frame.samples == 0:
                    continue
                chunk = _frame_to_array(frame, dtype)
                if not chunks:
                    sample_rate = int(frame.rate or sample_rate)
                    channels = chunk.shape[1]
                elif chunk.shape[1] != channels or int(frame.rate or sample_rate) != sample_rate:
                    raise AudioReadError("channel count or sample rate changes mid-stream", path)
                chunks.append(chunk)
        except (av.FFmpegError, OSError, ValueError) as err:
            raise AudioReadError(f"decoding failed: {_ffmpeg_reason(err)}", path) from None
        if sample_rate <= 0:
            raise AudioReadError("audio stream has no sample rate", path)
        if channels <= 0:
            raise AudioReadError("audio stream has no channels", path)
        samples = np.concatenate(chunks) if chunks else np.zeros((0, channels), dtype)
        samples = _trim_padding(samples, stream, sample_rate, cc.frame_size)
    return np.ascontiguousarray(samples), sample_rate


def _trim_padding(samples: np.ndarray, stream, sample_rate: int, frame_size: int) -> np.ndarray:
    """Drop the codec padding past the stream's declared end.

    Only when the declared duration is sample-exact (time base ``1 / sample_rate``, as in
    MP4/M4A) and the excess is shorter than one codec frame, so an estimated duration
    never cuts real audio.
    """
    if stream.time_base != Fraction(1, sample_rate):
        return samples
    declared = _stream_num_samples(stream, sample_rate)
    if declared is None:
        return samples
    excess = samples.shape[0] - declared
    if 0 < excess < max(int(frame_size or 0), 1):
        return samples[:declared]
    return samples
