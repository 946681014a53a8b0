"""Probe single audio files: audio facts, quality measurements and a content hash.

The measurement functions are pure and take decoded samples ``x`` of shape
``(time, channels)`` (a 1-D ``(time,)`` array is read as mono), full scale at 1.0, and
the sample rate in Hz. :func:`probe_file` ties them together for one file and never
raises for a problem with the file: it returns a row for the catalog (keys
:data:`PROBE_COLUMNS`) whose ``status`` and ``error`` say what went wrong.

Status vocabulary (first match wins):

- ``missing``: the path does not exist.
- ``unreadable``: not a regular file, or it cannot be opened / decoded (``error`` has
  the short reason).
- ``empty``: 0 samples, or a 0-byte file.
- ``nan``: decoded samples contain NaN or +-inf (measurements left None; facts and
  ``content_hash`` filled).
- ``too_short``: ``duration_s < min_duration_s`` (all facts still filled).
- ``silent``: (level ``full`` only) the whole file is silent: its sample peak is below
  :data:`SILENT_PEAK_DBFS` (-70 dBFS, about 10 steps of 16-bit PCM) or it is all zeros
  (all facts filled; ``peak_dbfs`` None for all zeros).
- ``ok``: everything else; ``error`` is None.

A file is *heavily clipped* when ``clip_ratio >= HEAVY_CLIP_RATIO`` (1 % of its samples
at full scale). That is not a status (the file stays ``ok``); the probe counts such files
in its summary (:func:`is_heavily_clipped`).
"""

from __future__ import annotations

import hashlib
import math
import os
import stat
import struct

import numpy as np
import xxhash

from curate.audio import loudness
from curate.audio.decode import AudioReadError, read_header, read_header_and_audio

__all__ = [
    "MIN_DURATION_S",
    "SILENCE_DBFS",
    "SILENCE_FRAME_S",
    "CLIP_LEVEL",
    "LOUDNESS_BLOCK_S",
    "SILENT_PEAK_DBFS",
    "HEAVY_CLIP_RATIO",
    "is_heavily_clipped",
    "LEVELS",
    "PROBE_COLUMNS",
    "peak_dbfs",
    "clip_ratio",
    "silence_ratio",
    "integrated_loudness",
    "HASH_ALGORITHMS",
    "DEFAULT_HASH",
    "check_hash_algorithm",
    "content_hash",
    "probe_file",
]

#: Default too-short threshold, seconds: shorter files get status ``too_short``.
MIN_DURATION_S = 0.1
#: A frame whose RMS (over its samples and channels) is below this level, dBFS, is silent.
SILENCE_DBFS = -60.0
#: Silence frame length, seconds (non-overlapping frames).
SILENCE_FRAME_S = 0.020
#: Absolute sample value at or above which a sample counts as clipped (full scale 1.0):
#: the largest positive 16-bit PCM value, 32767 / 32768.
CLIP_LEVEL = 32767 / 32768
#: BS.1770 loudness gating block, seconds; shorter clips have no integrated loudness.
LOUDNESS_BLOCK_S = 0.4
#: Whole-file silence, dBFS: a decoded file whose sample peak (over all samples and
#: channels) is below this level gets status ``silent``. -70 dBFS is an amplitude of
#: about 3.2e-4, 10 steps of 16-bit PCM: dither or an idle channel, never speech.
SILENT_PEAK_DBFS = -70.0
#: Heavily clipped, a fraction of samples: a file with ``clip_ratio`` at or above this
#: (1 % of its samples at full scale, see :data:`CLIP_LEVEL`) is counted as heavily
#: clipped in the probe's summary; it keeps its status.
HEAVY_CLIP_RATIO = 0.01
#: Content-hash algorithms of :func:`content_hash`, by the name a catalog records in
#: ``schema_info`` (key ``content_hash``): the same input bytes, 32 hex characters each.
HASH_ALGORITHMS = ("xxh3-128", "blake2b-128")
#: The algorithm of a new catalog (and of :func:`content_hash` without one named).
DEFAULT_HASH = "xxh3-128"
#: Probe levels accepted by :func:`probe_file`.
LEVELS = ("header", "full")

#: Keys of the dict returned by :func:`probe_file`, in catalog column order.
PROBE_COLUMNS = (
    "duration_s",
    "sample_rate",
    "channels",
    "num_samples",
    "format",
    "loudness_lufs",
    "peak_dbfs",
    "clip_ratio",
    "silence_ratio",
    "content_hash",
    "status",
    "error",
    "probe_note",
)

_HASH_MAGIC = b"curate.pcm.f32le.v1"


# ------------------------------------------------------------------------ measurements


def peak_dbfs(x: np.ndarray) -> float | None:
    """Sample peak level, dBFS: ``20 * log10(max |x|)`` over all samples and channels.

    Args:
        x: samples ``(time, channels)`` or ``(time,)``, full scale 1.0, finite.

    Returns:
        Peak in dBFS (0.0 at full scale, about -6.02 for amplitude 0.5); None when ``x``
        is empty or all zero (the peak would be -inf).
    """
    return _dbfs(_peak(_as_2d(x)))


def _dbfs(peak: float | None) -> float | None:
    """``20 * log10(peak)``; None for no peak or a zero one."""
    if peak is None or peak == 0.0:
        return None
    return 20.0 * math.log10(peak)


def _peak(x: np.ndarray) -> float | None:
    """``max |x|`` over a 2-D array without an ``abs`` copy (NaN when ``x`` holds one,
    inf when it holds an inf); None when empty."""
    if x.size == 0:
        return None
    return float(max(np.max(x), -np.min(x)))


def clip_ratio(x: np.ndarray) -> float | None:
    """Fraction of samples, over all channels, with ``|x| >= CLIP_LEVEL``.

    Args:
        x: samples ``(time, channels)`` or ``(time,)``, full scale 1.0.

    Returns:
        Ratio in [0, 1]; None when ``x`` is empty.
    """
    x = _as_2d(x)
    return _clip_ratio(x, _peak(x))


def _clip_ratio(x: np.ndarray, peak: float | None) -> float | None:
    """:func:`clip_ratio` of a 2-D ``x`` whose ``max |x|`` is ``peak``."""
    if peak is None:
        return None
    if peak < CLIP_LEVEL:  # nothing reaches full scale: no need to count
        return 0.0
    return float(np.count_nonzero(np.abs(x) >= CLIP_LEVEL)) / x.size


def is_heavily_clipped(ratio: float | None) -> bool:
    """True when a ``clip_ratio`` (fraction of samples, 0-1) is at or above
    :data:`HEAVY_CLIP_RATIO`; None (not measured) is not clipped."""
    return ratio is not None and ratio >= HEAVY_CLIP_RATIO


def silence_ratio(x: np.ndarray, sample_rate: int) -> float | None:
    """Fraction of silent 20 ms frames.

    ``x`` is cut into non-overlapping frames of ``round(SILENCE_FRAME_S * sample_rate)``
    samples; a frame is silent when its RMS over all its samples and channels is below
    ``SILENCE_DBFS``. The last partial frame counts when it is at least 10 ms long.

    Args:
        x: samples ``(time, channels)`` or ``(time,)``, full scale 1.0.
        sample_rate: Hz.

    Returns:
        Ratio in [0, 1]; None when ``x`` is shorter than 10 ms (no frame to judge).
    """
    x = _as_2d(x)
    sample_rate = _check_sample_rate(sample_rate)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    x = np.ascontiguousarray(x)  # frames are runs of whole rows: views, no copy
    frame = max(1, int(round(SILENCE_FRAME_S * sample_rate)))
    n_full, rest = divmod(x.shape[0], frame)
    last = rest > 0 and rest * 100 >= sample_rate  # rest / sample_rate >= 10 ms
    if n_full + last == 0:
        return None
    threshold = 10.0 ** (SILENCE_DBFS / 10.0)  # on the mean square
    # sums of squares per frame without a squared copy (in the samples' own precision:
    # float32 sums of a frame's 320-960 squares are within about 1e-5 of exact)
    frames = x[: n_full * frame].reshape(n_full, frame * x.shape[1])
    sums = np.einsum("ij,ij->i", frames, frames)
    n_silent = int(np.count_nonzero(sums < threshold * frames.shape[1]))
    if last:
        tail = x[n_full * frame:].reshape(-1)
        n_silent += int(float(np.dot(tail, tail)) < threshold * tail.size)
    return n_silent / (n_full + last)


def integrated_loudness(x: np.ndarray, sample_rate: int) -> tuple[float | None, str | None]:
    """Integrated loudness per ITU-R BS.1770-4 (K-weighted, gated), LUFS.

    Computed by :func:`curate.audio.loudness.integrated_loudness` (vectorised; agrees
    with pyloudnorm within 0.05 LU).

    Args:
        x: samples ``(time, channels)`` or ``(time,)``, full scale 1.0, finite, at most 5
            channels (BS.1770 channel weights).
        sample_rate: Hz.

    Returns:
        ``(lufs, None)`` when measured, else ``(None, note)`` with the reason:
        ``"shorter than one 400 ms gating block"``, ``"silent"`` (no block passes the
        -70 LUFS absolute and the relative gate) or why it was not measured (more than
        five channels).
    """
    x = _as_2d(x)
    sample_rate = _check_sample_rate(sample_rate)
    if x.shape[0] < LOUDNESS_BLOCK_S * sample_rate:
        return None, "shorter than one 400 ms gating block"
    if x.shape[1] > len(loudness.CHANNEL_WEIGHTS):
        return None, (f"loudness not measured: {x.shape[1]} channels, BS.1770 weighs five "
                      f"channels or fewer")
    with np.errstate(all="ignore"):
        lufs = loudness.integrated_loudness(x, sample_rate)
    if lufs == -math.inf:
        return None, "silent"
    if not math.isfinite(lufs):
        return None, f"loudness not measured: result is {lufs}"
    return lufs, None


def check_hash_algorithm(algorithm: str, argument: str = "algorithm") -> str:
    """``algorithm`` when it is one of :data:`HASH_ALGORITHMS`.

    Raises:
        ValueError: naming ``argument`` and the choices.
    """
    if algorithm not in HASH_ALGORITHMS:
        raise ValueError(f"{argument} must be one of {', '.join(HASH_ALGORITHMS)}, "
                         f"got {algorithm!r}")
    return algorithm


def content_hash(x: np.ndarray, sample_rate: int, algorithm: str = DEFAULT_HASH) -> str:
    """Hash of the decoded audio, for finding duplicates across containers.

    The input is a small header (format tag, ``sample_rate`` and channel count as
    little-endian uint64) followed by the samples as little-endian float32, time-major
    (interleaved); ``algorithm`` hashes it to 16 bytes: ``xxh3-128`` (XXH3, 128 bits,
    not cryptographic: 0.006 ms per 4 s clip at 16 kHz) or ``blake2b-128`` (blake2b with
    a 16-byte digest: 0.27 ms; what catalogs created before schema version 4 hold). The
    same PCM stored as WAV and FLAC hashes equal; a different sample rate, channel count
    or any sample differs. Hashes of the two algorithms are unrelated and must never be
    compared: a catalog records which one its rows hold (``schema_info``, key
    ``content_hash``).

    Args:
        x: samples ``(time, channels)`` or ``(time,)`` (hashed as one channel).
        sample_rate: Hz.
        algorithm: one of :data:`HASH_ALGORITHMS`.

    Returns:
        Hex digest, 32 characters.

    Raises:
        ValueError: ``x``, ``sample_rate`` or ``algorithm`` is invalid.
    """
    check_hash_algorithm(algorithm)
    x = _as_2d(x)
    sample_rate = _check_sample_rate(sample_rate)
    h = xxhash.xxh3_128() if algorithm == "xxh3-128" else hashlib.blake2b(digest_size=16)
    h.update(_HASH_MAGIC)
    h.update(struct.pack("<QQ", sample_rate, x.shape[1]))
    h.update(np.ascontiguousarray(x, dtype="<f4"))
    return h.hexdigest()


# ---------------------------------------------------------------------------- probing


def probe_file(
    path: str | os.PathLike,
    *,
    level: str = "full",
    min_duration_s: float = MIN_DURATION_S,
    hash_algorithm: str = DEFAULT_HASH,
) -> dict:
    """Probe one audio file; never raises for a problem with the file.

    Args:
        path: audio file.
        level: ``"header"`` reads only the header (duration, sample rate, channels,
            num_samples, format; measurements and ``content_hash`` stay None) and sets
            the status from it; ``"full"`` decodes the file and fills everything, with
            the facts taken from the decoded samples.
        min_duration_s: seconds; shorter files get status ``too_short``.
        hash_algorithm: the ``content_hash`` algorithm (:data:`HASH_ALGORITHMS`); the
            probe runners pass the one the catalog records.

    Returns:
        dict with exactly the keys :data:`PROBE_COLUMNS` (Python scalars or None):
        ``duration_s`` (s), ``sample_rate`` (Hz), ``channels``, ``num_samples``
        (frames), ``format``, ``loudness_lufs`` (LUFS), ``peak_dbfs`` (dBFS),
        ``clip_ratio``, ``silence_ratio``, ``content_hash``, ``status`` (see the module
        docstring), ``error`` (short reason, None when ``ok``) and ``probe_note``
        (non-fatal notes joined by ``"; "``, e.g. why loudness is None, or a header
        length that disagrees with the decoded one by more than 10 ms).

    Raises:
        ValueError: ``level``, ``min_duration_s`` or ``hash_algorithm`` is invalid (a
            caller mistake, not a file problem).
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    check_hash_algorithm(hash_algorithm, "hash_algorithm")
    if (
        isinstance(min_duration_s, bool)
        or not isinstance(min_duration_s, (int, float))
        or not math.isfinite(min_duration_s)
        or min_duration_s < 0
    ):
        raise ValueError(
            f"min_duration_s must be a finite number of seconds >= 0, got {min_duration_s!r}"
        )

    row = dict.fromkeys(PROBE_COLUMNS)
    notes: list[str] = []
    try:
        path = os.fspath(path)
        try:
            st = os.stat(path)
        except OSError:
            reason = "broken symbolic link" if os.path.lexists(path) else "file not found"
            return _finish(row, notes, "missing", reason)
        if stat.S_ISREG(st.st_mode) and st.st_size == 0:
            return _finish(row, notes, "empty", "file is 0 bytes")

        try:
            if level == "header":
                header = read_header(path)
            else:  # one open, one decode: every fact below comes from these samples
                header, x, sample_rate = read_header_and_audio(path)
        except AudioReadError as err:
            return _finish(row, notes, "unreadable", str(err))
        row.update(header)
        if level == "header":
            return _finish(row, notes, *_length_status(row, min_duration_s))

        n = int(x.shape[0])
        if abs(n - header["num_samples"]) * 100 > sample_rate:  # differ by more than 10 ms
            notes.append(f"header declares {header['num_samples']} samples, decoded {n}")
        row.update(
            sample_rate=int(sample_rate),
            channels=int(x.shape[1]),
            num_samples=n,
            duration_s=n / sample_rate,
        )
        if n == 0:
            return _finish(row, notes, "empty", "no audio samples")

        row["content_hash"] = content_hash(x, sample_rate, hash_algorithm)
        peak = _peak(x)  # one pass over the samples for the peak, clipping and NaN check
        if not math.isfinite(peak):  # max/min carry any NaN or inf through
            bad = int(x.size - np.count_nonzero(np.isfinite(x)))
            return _finish(row, notes, "nan", f"{bad} of {x.size} samples are NaN or inf")

        row["peak_dbfs"] = _dbfs(peak)
        row["clip_ratio"] = _clip_ratio(x, peak)
        row["loudness_lufs"], loudness_note = integrated_loudness(x, sample_rate)
        row["silence_ratio"] = silence_ratio(x, sample_rate)
        if loudness_note is not None:
            notes.append(f"loudness: {loudness_note}")
        status, error = _length_status(row, min_duration_s)
        if status == "ok":
            status, error = _silence_status(row["peak_dbfs"])
        return _finish(row, notes, status, error)
    except Exception as err:  # any other failure on this file must not stop a batch
        return _finish(row, notes, "unreadable", f"{type(err).__name__}: {err}"[:300])


def _length_status(row: dict, min_duration_s: float) -> tuple[str, str | None]:
    if row["num_samples"] == 0:
        return "empty", "no audio samples"
    if row["duration_s"] < min_duration_s:
        duration = row["duration_s"]
        return "too_short", f"duration {duration:.3f} s < min_duration_s {min_duration_s:g} s"
    return "ok", None


def _silence_status(peak: float | None) -> tuple[str, str | None]:
    """``silent`` when the peak (dBFS, None for all zeros) is below SILENT_PEAK_DBFS."""
    if peak is None:
        return "silent", "all samples are zero"
    if peak < SILENT_PEAK_DBFS:
        return "silent", f"peak {peak:.1f} dBFS is below {SILENT_PEAK_DBFS:g} dBFS"
    return "ok", None


def _finish(row: dict, notes: list[str], status: str, error: str | None) -> dict:
    row["status"] = status
    row["error"] = error
    row["probe_note"] = "; ".join(notes) if notes else None
    return row


# ----------------------------------------------------------------------------- checks


def _as_2d(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim == 1:
        return x[:, None]
    if x.ndim != 2:
        raise ValueError(
            f"x must have shape (time, channels) or (time,), got shape {x.shape}; "
            "transpose or reshape it first"
        )
    return x


def _check_sample_rate(sample_rate) -> int:
    try:
        valid = not isinstance(sample_rate, bool) and int(sample_rate) == sample_rate > 0
    except (TypeError, ValueError, OverflowError):
        valid = False
    if not valid:
        raise ValueError(f"sample_rate must be a positive integer in Hz, got {sample_rate!r}")
    return int(sample_rate)
