"""Summaries of an ablation's results (pure functions over DataFrames).

Input rows are one per (run, eval set) with the run's factor levels as columns,
its ``repeat`` and a metric ``value`` (EER in 0-1, or sharpness).
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def cell_summary(frame: pd.DataFrame, factors: list[str]) -> pd.DataFrame:
    """Mean, standard deviation (ddof 1; 0 for one seed) and count per cell and eval set."""
    grouped = frame.groupby(factors + ["eval_set"], sort=False)["value"]
    out = grouped.agg(mean="mean", std="std", n="count").reset_index()
    out["std"] = out["std"].fillna(0.0)
    return out


def factor_effects(frame: pd.DataFrame, factors: list[str],
                   reference: dict[str, str] | None = None) -> pd.DataFrame:
    """Marginal means per factor level and paired differences with a reference level.

    For factor F and level L, the difference is EER(F=L) - EER(F=ref) over runs that
    agree on every other factor, the repeat and the eval set: its mean, standard
    deviation and count show the effect and its spread.

    Args:
        frame: rows (run, eval set) with factor columns, ``repeat``, ``eval_set``, ``value``.
        factors: factor column names.
        reference: factor -> reference level (default: the first level seen).

    Returns:
        Rows ``factor, level, mean, std, n, diff_mean, diff_std, diff_n`` per eval set.
    """
    rows = []
    for factor in factors:
        levels = list(dict.fromkeys(frame[factor]))
        ref = (reference or {}).get(factor, levels[0])
        others = [f for f in factors if f != factor] + ["repeat", "eval_set"]
        base = frame[frame[factor] == ref].set_index(others)["value"]
        for eval_set, part in frame.groupby("eval_set", sort=False):
            for level in levels:
                values = part.loc[part[factor] == level, "value"]
                row = {"eval_set": eval_set, "factor": factor, "level": level,
                       "mean": values.mean(), "std": values.std(ddof=1) if len(values) > 1
                       else 0.0, "n": len(values), "reference": ref}
                here = part[part[factor] == level].set_index(others)["value"]
                paired = (here - base).dropna()
                row.update(diff_mean=paired.mean() if len(paired) else np.nan,
                           diff_std=paired.std(ddof=1) if len(paired) > 1 else 0.0,
                           diff_n=len(paired))
                rows.append(row)
    return pd.DataFrame(rows)
