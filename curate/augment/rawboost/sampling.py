"""RawBoost's parameter draws: tensors on the generator's device, nothing read back."""

from __future__ import annotations

import math
from typing import Any, Union

import numpy as np
import torch
from torch import Tensor

from curate.augment.rawboost.params import Cascades, RawBoostParams
from curate.augment.rawboost.settings import ALGORITHMS, RawBoostSettings, check_algo

__all__ = ["sample_params"]


def sample_params(batch_size: int, algo: int, generator: torch.Generator,
                  sample_rate: int = 16000, **params: Any) -> RawBoostParams:
    """Draw RawBoost parameters for ``batch_size`` items from ``generator``.

    Every value is drawn as a tensor on the generator's device (a CUDA generator draws
    on the GPU) and nothing is copied to the host: the shapes :func:`apply` needs
    (filter width, ISD draw budget) come from the settings' bounds
    (``RawBoostParams.max_taps``, ``max_beta_pct``), not from the draws.

    Draw order (the stream): per cascade set ``fc``, ``bw``, ``taps``, ``gain`` as
    ``(batch, cascades, bands)`` / ``(batch, cascades)`` uniforms; LnL first, then ISD
    ``beta`` and seed, then SSI cascade, SNR and seed, as the algorithm has them.

    Args:
        batch_size: items to draw for.
        algo: RawBoost algorithm, 1-8.
        generator: the only source of randomness; the params live on its device.
        sample_rate: Hz.
        **params: :class:`RawBoostSettings` fields (or the published names).

    Returns:
        :class:`RawBoostParams`; the draw does not depend on the signals.
    """
    algo = check_algo(algo)
    s = RawBoostSettings.from_params(sample_rate, **params)
    if not isinstance(generator, torch.Generator):
        raise ValueError("generator must be a torch.Generator (e.g. "
                         "torch.Generator().manual_seed(0)); there is no global default")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 0:
        raise ValueError(f"batch_size must be an integer >= 0, got {batch_size!r}")
    steps = ALGORITHMS[algo]
    device = generator.device
    out = RawBoostParams(algo=algo, sample_rate=int(sample_rate), g_sd=float(s.g_sd))
    top_taps = int(math.floor(s.max_coeff))

    def uniform(low: Union[Tensor, float], high: Union[Tensor, float], *shape: int) -> Tensor:
        u = torch.rand((batch_size, *shape), generator=generator, device=device,
                       dtype=torch.float64)
        return low + (high - low) * u

    def seeds() -> Tensor:
        return torch.randint(0, 2 ** 62, (batch_size,), generator=generator, device=device)

    def cascades(n: int, min_g: Union[Tensor, float], max_g: Union[Tensor, float]) -> Cascades:
        fc = uniform(s.min_f, s.max_f, n, s.n_bands)
        bw = uniform(s.min_bw, s.max_bw, n, s.n_bands)
        # int(U(min, max)) is at most int(max) (u < 1; the clamp only guards rounding)
        taps = uniform(s.min_coeff, s.max_coeff, n, s.n_bands).to(torch.int64) \
            .clamp_(max=top_taps)
        taps = taps + (taps % 2 == 0).to(torch.int64)
        return Cascades(fc, bw, taps, uniform(min_g, max_g, n))

    if "lnl" in steps or "ssi" in steps:
        out.max_taps = s.max_taps
    if "lnl" in steps:
        # order 1: (min_g, max_g); orders >= 2: each bound lowered by its bias
        higher = torch.arange(s.n_f, device=device, dtype=torch.float64).clamp_(max=1.0)
        min_g = s.min_g + higher * -s.min_bias_lin_nonlin
        max_g = s.max_g + higher * -s.max_bias_lin_nonlin
        out.lnl = cascades(s.n_f, min_g, max_g)
    if "isd" in steps:
        out.isd_beta = uniform(0.0, s.p)
        out.isd_seed = seeds()
        out.max_beta_pct = float(s.p)
    if "ssi" in steps:
        out.ssi = cascades(1, s.min_g, s.max_g)
        out.ssi_snr_db = uniform(s.snr_min, s.snr_max)
        out.ssi_seed = seeds()
    return out
