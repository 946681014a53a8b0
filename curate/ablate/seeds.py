"""Multi-seed summaries: runs that differ only in their seed, as mean ± std and best.

Published speech deepfake detection results report a configuration trained with several
seeds as the mean and standard deviation of its EER over the seeds, next to the best
seed. Here a *seed group* is the set of runs whose stored config (``runs.config``, the
run's ``RunSpec``) is equal once the keys in :data:`IGNORED` are left out: the seed,
the experiment name (``...-r0``, ``...-r1`` in an ablation) and the run's folder.

Every summarised metric is one where lower is better (EER, minDCF, actDCF, Cllr), so
the best run is the one with the smallest value.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from fnmatch import fnmatchcase
from typing import Any

import numpy as np
import pandas as pd

from curate.ablate import sql
from curate.catalog.db import Catalog

__all__ = ["IGNORED", "LOWER_IS_BETTER", "seed_key", "seed_groups", "seed_summary",
           "mean_std_best", "shown_summary", "runs_seed_summary", "runs_table"]

# Dotted config keys that do not make two runs different experiments.
IGNORED = ("seed", "train.seed", "name", "run_dir", "unavailable_skipped")
LOWER_IS_BETTER = ("eer", "min_dcf", "act_dcf", "cllr", "min_cllr", "cal_act_dcf",
                   "cal_cllr")


def _without(config: Any, ignored: tuple[str, ...], prefix: str = "") -> Any:
    if not isinstance(config, dict):
        return config
    return {k: _without(v, ignored, f"{prefix}{k}.") for k, v in config.items()
            if f"{prefix}{k}" not in ignored}


def seed_key(config: dict | str | None, ignored: tuple[str, ...] = IGNORED) -> str:
    """A short hash of ``config`` without the ``ignored`` dotted keys (equal for runs
    that differ only in seed and name)."""
    parsed = json.loads(config) if isinstance(config, str) else (config or {})
    text = json.dumps(_without(parsed, ignored), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _flat(config: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted key -> leaf value of a nested config."""
    if not isinstance(config, dict):
        return {prefix[:-1]: config}
    out: dict[str, Any] = {}
    for key, value in config.items():
        out.update(_flat(value, f"{prefix}{key}."))
    return out


def _short(value: Any) -> str:
    """A config value for a label: paths by their file name."""
    text = str(value)
    return os.path.basename(text) if isinstance(value, str) and "/" in text else text


def _differences(configs: dict[str, dict], limit: int = 3) -> dict[str, str]:
    """Group -> ``"key=value, ..."`` of the keys whose values differ between the groups."""
    flat = {group: _flat(config) for group, config in configs.items()}
    keys = sorted({k for f in flat.values() for k in f})
    differing = [k for k in keys
                 if len({json.dumps(f.get(k), sort_keys=True, default=str)
                         for f in flat.values()}) > 1]
    shown = {}
    for group, f in flat.items():
        parts = [f"{k}={_short(f.get(k))}" for k in differing[:limit]]
        if len(differing) > limit:
            parts.append(f"+{len(differing) - limit} keys")
        shown[group] = ", ".join(parts)
    return shown


def _label(names: list[str]) -> str:
    """The name a seed group shows: its runs' common name without a repeat suffix."""
    stripped = sorted({re.sub(r"[-_](r|seed|s)\d+$", "", n) for n in names})
    if len(stripped) == 1:
        return stripped[0]
    common = os.path.commonprefix(stripped).rstrip("-_.")
    return common or stripped[0]


def seed_groups(runs: pd.DataFrame, ignored: tuple[str, ...] = IGNORED) -> pd.DataFrame:
    """The seed group of every run.

    Args:
        runs: one row per run with ``run_id``, ``name`` and ``config`` (JSON text or dict).
        ignored: dotted config keys left out of the comparison.

    Returns:
        ``run_id, group, label, n_runs``: ``group`` is the config hash shared by the runs
        of one group, ``label`` their common name (followed by ``[key=value, ...]``, the
        config keys that tell apart groups of the same name), ``n_runs`` the group's size.
    """
    parsed = [_without(json.loads(c) if isinstance(c, str) else (c or {}), ignored)
              for c in runs["config"]]
    keys = [seed_key(c, ()) for c in parsed]
    out = pd.DataFrame({"run_id": runs["run_id"].to_numpy(), "group": keys,
                        "name": runs["name"].astype(str).to_numpy()})
    labels = out.groupby("group")["name"].agg(lambda s: _label(list(s)))
    configs = dict(zip(keys, parsed))
    for label, groups in labels.groupby(labels).groups.items():
        if len(groups) > 1:
            differences = _differences({g: configs[g] for g in groups})
            labels[list(groups)] = [f"{label} [{differences[g]}]" for g in groups]
    out["label"] = out["group"].map(labels)
    out["n_runs"] = out.groupby("group")["run_id"].transform("count")
    return out.drop(columns="name")


def seed_summary(results: pd.DataFrame, by: str | list[str] = "group",
                 metrics: tuple[str, ...] = ("eer", "min_dcf")) -> pd.DataFrame:
    """Mean, standard deviation, best value and best run per group, eval set and metric.

    Args:
        results: one row per (run, eval set, eval group, metric) with ``run_id``,
            ``eval_set``, ``eval_group``, ``metric``, ``value`` and the ``by`` column(s).
        by: the column(s) naming a run's seed group (``group`` of :func:`seed_groups`,
            or an ablation's ``cell``).
        metrics: metrics to summarise, each lower-is-better (:data:`LOWER_IS_BETTER`).

    Returns:
        ``by..., eval_set, eval_group, metric, n, mean, std, best, best_run``: ``std`` has
        ddof 1 (NaN for a single run), ``best`` is the smallest value and ``best_run`` the
        run that has it (the first run id on a tie).
    """
    unknown = [m for m in metrics if m not in LOWER_IS_BETTER]
    if unknown:
        raise ValueError(f"metrics {unknown} are not lower-is-better; summarise only "
                         f"{', '.join(LOWER_IS_BETTER)}")
    keys = [by] if isinstance(by, str) else list(by)
    part = results[results["metric"].isin(metrics)].dropna(subset=["value"])
    part = part.sort_values(keys + ["eval_set", "eval_group", "metric", "value", "run_id"],
                            kind="stable")
    columns = keys + ["eval_set", "eval_group", "metric", "n", "mean", "std", "best",
                      "best_run"]
    if part.empty:
        return pd.DataFrame(columns=columns)
    grouped = part.groupby(keys + ["eval_set", "eval_group", "metric"], sort=True)
    out = grouped["value"].agg(n="count", mean="mean", std=lambda v: v.std(ddof=1),
                               best="min").reset_index()
    out["best_run"] = grouped["run_id"].first().to_numpy()  # sorted by value: the best
    out["n"] = out["n"].astype(int)
    return out[columns]


def mean_std_best(mean: float, std: float, n: int, best: float, *, scale: float = 100.0,
                  digits: int = 2) -> str:
    """``"mean ± std (best)"`` for several seeds, the value alone for one (times
    ``scale``: 100 shows fractions as %)."""
    if n <= 1 or std != std:
        return f"{scale * mean:.{digits}f}"
    return f"{scale * mean:.{digits}f} ± {scale * std:.{digits}f} ({scale * best:.{digits}f})"


def shown_summary(summary: pd.DataFrame) -> pd.DataFrame:
    """A seed summary for printing: ``label, eval_set, metric, n, mean ± std (best),
    best_run``; EER in % with 2 decimals, other metrics with 4."""
    shown = [mean_std_best(m, s, n, b, scale=100.0 if metric == "eer" else 1.0,
                           digits=2 if metric == "eer" else 4)
             for metric, n, m, s, b in zip(summary["metric"], summary["n"], summary["mean"],
                                           summary["std"], summary["best"])]
    return pd.DataFrame({"label": summary["label"], "eval_set": summary["eval_set"],
                         "metric": [("eer_%" if m == "eer" else m) for m in summary["metric"]],
                         "n": summary["n"], "mean ± std (best)": shown,
                         "best_run": summary["best_run"]})


def runs_table(catalog: Catalog, *, name: str | None = None,
               eval_group: str = "all") -> pd.DataFrame:
    """Every run (whose name matches the glob ``name``): ``run_id, name, status, seed``
    and its EER (%) per eval set, one column each."""
    runs = catalog.df(sql.ALL_RUNS)
    if name is not None:
        runs = runs[[fnmatchcase(str(n), name) for n in runs["name"]]]
    eer = catalog.df(sql.RESULTS_OF_GROUP, [eval_group, ["eer"]])
    eer = eer[eer["run_id"].isin(runs["run_id"])]
    if eer.empty:
        return runs.reset_index(drop=True)
    wide = (100 * eer.pivot_table(index="run_id", columns="eval_set", values="value",
                                  aggfunc="first")).round(2)
    wide.columns = [f"eer_%_{c}" for c in wide.columns]
    return runs.merge(wide, left_on="run_id", right_index=True, how="left") \
        .reset_index(drop=True)


def runs_seed_summary(catalog: Catalog, *, name: str | None = None,
                      metrics: tuple[str, ...] = ("eer", "min_dcf"),
                      eval_group: str = "all") -> pd.DataFrame:
    """The seed summary of the catalog's finished runs (whose name matches the glob
    ``name``), one row per seed group, eval set and metric: ``label, eval_set, metric,
    n, mean, std, best, best_run, group``; values as stored (fractions)."""
    runs = catalog.df(sql.FINISHED_RUNS)
    if name is not None:
        runs = runs[[fnmatchcase(str(n), name) for n in runs["name"]]]
    if runs.empty:
        return pd.DataFrame(columns=["label", "eval_set", "metric", "n", "mean", "std",
                                     "best", "best_run", "group"])
    groups = seed_groups(runs)
    results = catalog.df(sql.RESULTS_OF_GROUP, [eval_group, list(metrics)])
    results = results.merge(groups, on="run_id")
    summary = seed_summary(results, by=["label", "group"], metrics=metrics)
    order = {m: i for i, m in enumerate(metrics)}
    summary = summary.assign(_m=summary["metric"].map(order)).sort_values(
        ["label", "group", "eval_set", "_m"], kind="stable")
    return summary[["label", "eval_set", "metric", "n", "mean", "std", "best", "best_run",
                    "group"]].reset_index(drop=True).astype({"n": np.int64})
