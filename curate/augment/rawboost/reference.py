"""Reference-compatible RawBoost: the published implementation's draws, number for number.

The published code draws from numpy's global legacy generator, utterance after
utterance; :func:`reference_compatible` draws the same numbers from
``numpy.random.RandomState(seed)`` in the same order (on the host: they are the
published stream, not a device draw), stores them explicitly in the params (ISD
positions and factors, SSI noise) and runs the batched :func:`apply` in float64.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Union

import numpy as np
import torch

from curate.augment.rawboost.functional import apply
from curate.augment.rawboost.params import RawBoostParams, pad_rows
from curate.augment.rawboost.settings import ALGORITHMS, RawBoostSettings, check_algo

__all__ = ["reference_compatible"]


def _draw_cascade(rs: np.random.RandomState, s: RawBoostSettings, min_g: float,
                  max_g: float) -> dict[str, Any]:
    fc, bw, taps = [], [], []
    for _ in range(s.n_bands):
        fc.append(float(rs.uniform(s.min_f, s.max_f)))
        bw.append(float(rs.uniform(s.min_bw, s.max_bw)))
        c = int(rs.uniform(s.min_coeff, s.max_coeff))
        taps.append(c + 1 if c % 2 == 0 else c)
    return {"fc_hz": fc, "bw_hz": bw, "taps": taps, "gain_db": float(rs.uniform(min_g, max_g))}


def _draw_reference(rs: np.random.RandomState, time: int, algo: int, s: RawBoostSettings,
                    sample_rate: int) -> dict[str, Any]:
    """One item's params drawn from ``rs`` in the published order."""
    item: dict[str, Any] = {"algo": algo, "sample_rate": sample_rate}
    for step in ALGORITHMS[algo]:
        if step == "lnl":
            gains = [(s.min_g, s.max_g)] + [(s.min_g - s.min_bias_lin_nonlin,
                                             s.max_g - s.max_bias_lin_nonlin)] * (s.n_f - 1)
            item["lnl"] = [_draw_cascade(rs, s, lo, hi) for lo, hi in gains]
        elif step == "isd":
            beta = float(rs.uniform(0, s.p))
            n = int(time * (beta / 100))
            positions = rs.permutation(time)[:n]
            u1 = rs.rand(n)
            u2 = rs.rand(n)
            item["isd"] = {"beta_pct": beta, "g_sd": float(s.g_sd),
                           "positions": positions.tolist(),
                           "factors": ((2 * u1 - 1) * (2 * u2 - 1)).tolist()}
        else:
            noise = rs.normal(0, 1, time)
            ssi = _draw_cascade(rs, s, s.min_g, s.max_g)
            ssi["snr_db"] = float(rs.uniform(s.snr_min, s.snr_max))
            ssi["noise"] = noise
            item["ssi"] = ssi
    return item


def reference_compatible(x: Union[np.ndarray, Sequence[np.ndarray]], sample_rate: int,
                         algo: int, seed: int, **params: Any
                         ) -> Union[np.ndarray, list[np.ndarray]]:
    """RawBoost as the published implementation computes it after ``numpy.random.seed(seed)``.

    Draws every random number from ``numpy.random.RandomState(seed)`` in the published
    order (utterance after utterance), then runs the batched implementation in float64
    on all utterances at once.

    Args:
        x: one utterance ``(time,)``, a batch of equal-length ones ``(batch, time)``, or
            a list of 1-D utterances of any lengths; processed in that order.
        sample_rate: Hz.
        algo: 1-8.
        seed: the seed the published code would have given ``numpy.random.seed``.
        **params: :class:`RawBoostSettings` fields or the published names.

    Returns:
        float64, shaped like ``x`` (a list for a list).
    """
    algo = check_algo(algo)
    s = RawBoostSettings.from_params(sample_rate, **params)
    as_list = isinstance(x, (list, tuple))
    rows = [np.asarray(r, dtype=np.float64) for r in (x if as_list else np.atleast_2d(x))]
    if any(r.ndim != 1 for r in rows) or (not as_list and np.asarray(x).ndim > 2):
        raise ValueError("x must be (time,), (batch, time) or a list of 1-D arrays")
    if not rows:
        return [] if as_list else np.zeros_like(np.asarray(x, dtype=np.float64))
    rs = np.random.RandomState(seed)
    items = [_draw_reference(rs, r.shape[0], algo, s, int(sample_rate)) for r in rows]
    batch = pad_rows(rows)
    lengths = torch.tensor([r.shape[0] for r in rows], dtype=torch.int64)
    y = apply(batch, lengths, RawBoostParams.from_list(items)).numpy()
    if as_list:
        return [y[i, :r.shape[0]].copy() for i, r in enumerate(rows)]
    return y.reshape(np.asarray(x).shape)
