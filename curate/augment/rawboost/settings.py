"""RawBoost's algorithms, settings (the ranges it draws from) and their checks."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

__all__ = ["ALGORITHMS", "ALIASES", "RawBoostSettings", "check_algo"]

#: The steps of each algorithm, applied in turn (8 is LnL(x) + ISD(x), normalised).
ALGORITHMS: dict[int, tuple[str, ...]] = {
    1: ("lnl",), 2: ("isd",), 3: ("ssi",), 4: ("lnl", "isd", "ssi"),
    5: ("lnl", "isd"), 6: ("lnl", "ssi"), 7: ("isd", "ssi"), 8: ("lnl", "isd"),
}

#: The published parameter names, accepted as aliases of the snake_case ones.
ALIASES = {
    "nBands": "n_bands", "minF": "min_f", "maxF": "max_f", "minBW": "min_bw",
    "maxBW": "max_bw", "minCoeff": "min_coeff", "maxCoeff": "max_coeff", "minG": "min_g",
    "maxG": "max_g", "minBiasLinNonLin": "min_bias_lin_nonlin",
    "maxBiasLinNonLin": "max_bias_lin_nonlin", "N_f": "n_f", "P": "p",
    "SNRmin": "snr_min", "SNRmax": "snr_max",
}


@dataclass(frozen=True)
class RawBoostSettings:
    """The ranges RawBoost draws from; defaults are the published ones (LA and DF alike).

    Every range ``(a, b)`` is drawn as ``a + (b - a) * u``, ``u ~ U[0, 1)``, so ``a > b``
    is allowed (the LnL gains of orders >= 2 use ``(min_g - 5, max_g - 20)``).

    Attributes:
        n_bands: band-stop filters per cascade.
        min_f, max_f: band centre frequency range, Hz.
        min_bw, max_bw: band width range, Hz.
        min_coeff, max_coeff: FIR tap-count range (drawn, truncated, made odd).
        min_g, max_g: cascade peak gain range, dB.
        min_bias_lin_nonlin, max_bias_lin_nonlin: gain offsets of LnL orders >= 2, dB.
        n_f: LnL orders (``x, x**2, ..., x**n_f``), each with its own cascade.
        p: ISD maximum share of samples hit, percent.
        g_sd: ISD impulse gain (linear factor).
        snr_min, snr_max: SSI signal-to-noise ratio range, dB.
    """

    n_bands: int = 5
    min_f: float = 20.0
    max_f: float = 8000.0
    min_bw: float = 100.0
    max_bw: float = 1000.0
    min_coeff: float = 10.0
    max_coeff: float = 100.0
    min_g: float = 0.0
    max_g: float = 0.0
    min_bias_lin_nonlin: float = 5.0
    max_bias_lin_nonlin: float = 20.0
    n_f: int = 5
    p: float = 10.0
    g_sd: float = 2.0
    snr_min: float = 10.0
    snr_max: float = 40.0

    @classmethod
    def from_params(cls, sample_rate: int, **params: Any) -> "RawBoostSettings":
        """Settings from keyword arguments (snake_case or the published names), validated.

        Raises:
            ValueError: an unknown name, a repeated one, or a value out of range; the
                message names the parameter and the fix.
        """
        names = {f.name for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in params.items():
            name = ALIASES.get(key, key)
            if name not in names:
                raise ValueError(f"unknown RawBoost parameter {key!r}; use one of "
                                 f"{', '.join(sorted(names))} (or the published names "
                                 f"{', '.join(sorted(ALIASES))})")
            if name in values:
                raise ValueError(f"RawBoost parameter {name!r} is given twice (as {key!r} "
                                 "and under its other name); give it once")
            values[name] = value
        settings = cls(**values)
        settings.validate(sample_rate)
        return settings

    def validate(self, sample_rate: int) -> None:
        """Check every value against ``sample_rate`` (Hz); raise a ValueError naming the fix."""
        if not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
            raise ValueError(f"sample_rate must be a positive integer in Hz, got {sample_rate!r}")
        for name in ("n_bands", "n_f"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, (int, float, np.integer, np.floating)) or \
                    isinstance(value, bool) or not math.isfinite(value):
                raise ValueError(f"{f.name} must be a finite number, got {value!r}")
        nyquist = sample_rate / 2
        if not 0 <= self.min_f <= self.max_f <= nyquist:
            raise ValueError(f"min_f={self.min_f} and max_f={self.max_f} must satisfy "
                             f"0 <= min_f <= max_f <= sample_rate/2 = {nyquist:g} Hz; "
                             f"lower max_f to {nyquist:g} for {sample_rate} Hz audio")
        if not 0 < self.min_bw <= self.max_bw:
            raise ValueError(f"min_bw={self.min_bw} and max_bw={self.max_bw} must satisfy "
                             "0 < min_bw <= max_bw (Hz)")
        if not 1 <= self.min_coeff <= self.max_coeff:
            raise ValueError(f"min_coeff={self.min_coeff} and max_coeff={self.max_coeff} "
                             "must satisfy 1 <= min_coeff <= max_coeff (FIR taps)")
        if not 0 <= self.p <= 100:
            raise ValueError(f"p must be a percentage in [0, 100], got {self.p}")
        if self.g_sd < 0:
            raise ValueError(f"g_sd must be >= 0, got {self.g_sd}")
        if self.snr_min > self.snr_max:
            raise ValueError(f"snr_min={self.snr_min} must be <= snr_max={self.snr_max} (dB)")

    @property
    def max_taps(self) -> int:
        """The largest tap count a band can be drawn with (odd): ``int(max_coeff)``,
        plus one when even. It sizes the filters of every batch, whatever was drawn."""
        top = int(math.floor(self.max_coeff))
        return top + 1 - top % 2


def check_algo(algo: Any) -> int:
    """``algo`` as an int in 1-8, or a ValueError listing the algorithms."""
    if isinstance(algo, bool) or not isinstance(algo, (int, np.integer)) or algo not in ALGORITHMS:
        raise ValueError(f"algo must be one of 1-8 (1 LnL, 2 ISD, 3 SSI, 4 = 1+2+3, 5 = 1+2, "
                         f"6 = 1+3, 7 = 2+3, 8 = LnL+ISD in parallel), got {algo!r}")
    return int(algo)
