"""RawBoost one utterance at a time, in numpy/scipy: the baseline of ``curate bench rawboost``.

This is the published algorithm (Tak et al., ICASSP 2022) written the way its
reference implementation runs it: one 1-D utterance per call, FIR filters applied
with :func:`scipy.signal.lfilter`, every random number drawn in the published order
from a ``numpy.random.RandomState``. It exists to measure the batched implementation
(:mod:`curate.augment.rawboost`) against and to check it; training uses the batched one.

Unlike the published code it draws scalars (it does not call ``int()`` on a size-1
array), so it also runs on NumPy >= 2.4.

Units: frequencies in Hz, gains and SNRs in dB, ``p`` in percent, signals as float64
arrays of shape ``(time,)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import signal

from curate.augment.rawboost import ALGORITHMS, RawBoostSettings

__all__ = ["rawboost_reference", "notch_cascade", "fir_filter", "lnl", "isd", "ssi"]


def _peak_normalise(x: np.ndarray, always: bool) -> np.ndarray:
    peak = np.amax(np.abs(x)) if x.size else 0.0
    if always or peak > 1:
        return x / peak
    return x


def notch_cascade(rs: np.random.RandomState, s: RawBoostSettings, min_g: float, max_g: float,
                  sample_rate: int) -> np.ndarray:
    """Draw and design one band-stop cascade; returns its FIR taps, shape ``(L,)``.

    Per band it draws ``fc``, ``bw`` (Hz) and the tap count, designs a Hamming-window
    band-stop with :func:`scipy.signal.firwin` and convolves it into the cascade; then it
    draws the gain ``G`` (dB) and scales the cascade to peak gain ``10**(G/20)`` over
    :func:`scipy.signal.freqz`'s 512 default frequencies.
    """
    b = np.ones(1)
    nyq_guard = sample_rate / 2
    for _ in range(s.n_bands):
        fc = rs.uniform(s.min_f, s.max_f)
        bw = rs.uniform(s.min_bw, s.max_bw)
        taps = int(rs.uniform(s.min_coeff, s.max_coeff))
        if taps % 2 == 0:
            taps += 1
        f1 = fc - bw / 2
        f2 = fc + bw / 2
        if f1 <= 0:
            f1 = 1e-3
        if f2 >= nyq_guard:
            f2 = nyq_guard - 1e-3
        b = np.convolve(signal.firwin(taps, [f1, f2], window="hamming", fs=sample_rate), b)
    gain_db = rs.uniform(min_g, max_g)
    _, h = signal.freqz(b, 1, fs=sample_rate)
    return 10.0 ** (gain_db / 20) * b / np.amax(np.abs(h))


def fir_filter(x: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Filter ``x`` (time,) with taps ``b`` the published way: pad, ``lfilter``, crop.

    The input is zero-padded by ``len(b) + 1`` samples at the end and the output keeps
    samples ``[int((L+1)/2), len - (L+1)/2)``, so it has the input's length.
    """
    n = b.shape[0] + 1
    y = signal.lfilter(b, 1, np.pad(x, (0, n)))
    return y[int(n / 2):int(y.shape[0] - n / 2)]


def lnl(x: np.ndarray, rs: np.random.RandomState, s: RawBoostSettings,
        sample_rate: int) -> np.ndarray:
    """Algorithm 1, linear and non-linear convolutive noise: ``sum_k filter_k(x**k)``."""
    y = np.zeros(x.shape[0])
    min_g, max_g = s.min_g, s.max_g
    for k in range(s.n_f):
        if k == 1:
            min_g, max_g = min_g - s.min_bias_lin_nonlin, max_g - s.max_bias_lin_nonlin
        b = notch_cascade(rs, s, min_g, max_g, sample_rate)
        y = y + fir_filter(np.power(x, k + 1), b)
    if y.size:
        y = y - np.mean(y)
    return _peak_normalise(y, always=False)


def isd(x: np.ndarray, rs: np.random.RandomState, s: RawBoostSettings) -> np.ndarray:
    """Algorithm 2, impulsive signal-dependent noise at ``int(T * beta/100)`` samples."""
    beta = rs.uniform(0, s.p)
    y = np.array(x, dtype=np.float64, copy=True)
    n = int(x.shape[0] * (beta / 100))
    p = rs.permutation(x.shape[0])[:n]
    f_r = (2 * rs.rand(n) - 1) * (2 * rs.rand(n) - 1)
    y[p] = x[p] + s.g_sd * x[p] * f_r
    return _peak_normalise(y, always=False)


def ssi(x: np.ndarray, rs: np.random.RandomState, s: RawBoostSettings,
        sample_rate: int) -> np.ndarray:
    """Algorithm 3, stationary signal-independent coloured noise at a random SNR."""
    noise = rs.normal(0, 1, x.shape[0])
    b = notch_cascade(rs, s, s.min_g, s.max_g, sample_rate)
    noise = _peak_normalise(fir_filter(noise, b), always=True)
    snr_db = rs.uniform(s.snr_min, s.snr_max)
    noise = noise / np.linalg.norm(noise, 2) * np.linalg.norm(x, 2) / 10.0 ** (0.05 * snr_db)
    return x + noise


def rawboost_reference(x: np.ndarray, algo: int, rs: np.random.RandomState,
                       sample_rate: int = 16000, **params: Any) -> np.ndarray:
    """RawBoost algorithm ``algo`` (1-8) on one utterance ``x`` of shape ``(time,)``.

    Args:
        x: the waveform, shape ``(time,)``; computed in float64.
        algo: 1 LnL, 2 ISD, 3 SSI, 4 = 1+2+3, 5 = 1+2, 6 = 1+3, 7 = 2+3,
            8 = peak-normalised LnL(x) + ISD(x).
        rs: the random state every number is drawn from, in the published order.
        sample_rate: Hz.
        **params: RawBoost settings (see :class:`curate.augment.rawboost.RawBoostSettings`).

    Returns:
        float64 array of shape ``(time,)``.
    """
    s = RawBoostSettings.from_params(sample_rate, **params)
    if algo not in ALGORITHMS:
        raise ValueError(f"algo must be one of {sorted(ALGORITHMS)}, got {algo!r}")
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"x must be one utterance of shape (time,), got shape {x.shape}; "
                         "call once per utterance")
    if algo == 8:
        y = lnl(x, rs, s, sample_rate) + isd(x, rs, s)
        return _peak_normalise(y, always=False)
    for step in ALGORITHMS[algo]:
        if step == "lnl":
            x = lnl(x, rs, s, sample_rate)
        elif step == "isd":
            x = isd(x, rs, s)
        else:
            x = ssi(x, rs, s, sample_rate)
    return x
