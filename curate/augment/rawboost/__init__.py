"""RawBoost (Tak et al., ICASSP 2022), batched, on any device.

RawBoost distorts raw waveforms with three kinds of noise and their combinations:

- **LnL** (algorithm 1), linear and non-linear convolutive noise:
  ``y = sum_{k=1..n_f} h_k * x**k`` where each ``h_k`` is a random cascade of
  ``n_bands`` Hamming-window FIR band-stop filters; then the mean is removed and the
  result is divided by its peak when that exceeds 1.
- **ISD** (algorithm 2), impulsive signal-dependent noise: ``int(T * beta/100)``
  random samples ``x[p]`` become ``x[p] + g_sd * x[p] * (2u1-1)(2u2-1)``,
  ``beta ~ U(0, p)``; then the same conditional peak normalisation.
- **SSI** (algorithm 3), stationary signal-independent noise: white Gaussian noise
  through a random cascade, peak-normalised, scaled to ``SNR ~ U(snr_min, snr_max)``
  dB against ``x`` and added.
- 4 = 1, 2, 3 in turn; 5 = 1 then 2; 6 = 1 then 3; 7 = 2 then 3;
  8 = conditional peak normalisation of ``LnL(x) + ISD(x)``.

One job per module:

========================  ==============================================================
``settings``              ``ALGORITHMS``, :class:`RawBoostSettings` (ranges, checks)
``params``                :class:`RawBoostParams`, :class:`Cascades`: the draws as
                          tensors, plain per-item dicts for logs, replay
``sampling``              :func:`sample_params`: draws on the generator's device
``filters``               batched band-stop design and FFT overlap-save
``functional``            :func:`apply` (deterministic), :func:`rawboost` (draw + apply)
``reference``             :func:`reference_compatible`: the published numpy draws
``chain_step``            :class:`RawBoostStep`, the chain's ``rawboost`` step
``module``                :class:`RawBoost`, the ``nn.Module``
========================  ==============================================================

The noise of an item (ISD positions and factors, SSI white noise) is expanded from its
62-bit seed by the counter-based generator :mod:`curate.augment.counter_rng`, so it
depends on the item only, not on the batch nor the device.

Precision: inputs in float64 are processed in float64 (the reference-compatible
path; relative error to the published implementation ~1e-14). Other inputs are
processed in float32 (the fast path: filter taps are computed in float64, the
transforms in float32; ~3e-7 from float64); half-precision inputs are computed in
float32 and cast back.
"""

from curate.augment.rawboost.chain_step import RawBoostStep
from curate.augment.rawboost.functional import apply, rawboost
from curate.augment.rawboost.module import RawBoost
from curate.augment.rawboost.params import Cascades, RawBoostParams
from curate.augment.rawboost.reference import reference_compatible
from curate.augment.rawboost.sampling import sample_params
from curate.augment.rawboost.settings import ALGORITHMS, ALIASES, RawBoostSettings, check_algo

# the names the single-file module had (curate.bench imports _check_algo)
_check_algo = check_algo
_ALIASES = ALIASES

__all__ = [
    "ALGORITHMS",
    "RawBoostSettings",
    "Cascades",
    "RawBoostParams",
    "sample_params",
    "apply",
    "rawboost",
    "reference_compatible",
    "RawBoostStep",
    "RawBoost",
]
