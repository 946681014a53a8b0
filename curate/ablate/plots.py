"""PNG plots of the catalog and of results (matplotlib, Agg backend, no display)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy.stats import norm  # noqa: E402

from curate.train.metrics import compute_eer, det_curve  # noqa: E402

LABEL_COLOURS = {"bonafide": "#2b7bba", "spoof": "#d9534f"}
DET_TICKS = [0.001, 0.01, 0.05, 0.2, 0.5, 0.8, 0.95]


def _save(fig, out: Path) -> Path:
    """Lay out, write ``out`` (creating its folder) and free the figure."""
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def composition_bars(frame: pd.DataFrame, out: Path, *, by: str = "language",
                     value: str = "minutes", title: str = "Catalog composition") -> Path:
    """Stacked bars of ``value`` per ``by`` value, split by label.

    Args:
        frame: rows with columns ``by``, ``label`` and ``value``.
        out: PNG path to write.
    """
    pivot = (frame.pivot_table(index=by, columns="label", values=value, aggfunc="sum")
             .fillna(0.0).sort_index())
    fig, ax = plt.subplots(figsize=(max(4.0, 0.6 * len(pivot) + 2), 3.6), dpi=120)
    bottom = np.zeros(len(pivot))
    for label in [c for c in ("bonafide", "spoof") if c in pivot.columns]:
        ax.bar(pivot.index.astype(str), pivot[label], bottom=bottom, label=label,
               color=LABEL_COLOURS[label])
        bottom += pivot[label].to_numpy()
    ax.set_xlabel(by)
    ax.set_ylabel(value)
    ax.set_title(title)
    ax.legend(frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return _save(fig, out)


def det_plot(curves: dict[str, tuple[np.ndarray, np.ndarray]], out: Path, *,
             title: str = "DET curve") -> Path:
    """DET curves (miss vs false-alarm rate on normal-deviate axes), EER in the legend.

    Args:
        curves: name -> (bonafide_scores, spoof_scores), higher = more bonafide.
        out: PNG path to write.
    """
    eps = 1e-4
    fig, ax = plt.subplots(figsize=(4.6, 4.4), dpi=120)
    for name, (bona, spoof) in curves.items():
        p_miss, p_fa, _ = det_curve(bona, spoof)
        eer, _ = compute_eer(bona, spoof)
        ax.plot(norm.ppf(np.clip(p_fa, eps, 1 - eps)), norm.ppf(np.clip(p_miss, eps, 1 - eps)),
                label=f"{name} (EER {100 * eer:.1f}%)")
    ticks = norm.ppf(DET_TICKS)
    labels = [f"{100 * t:g}" for t in DET_TICKS]
    ax.set_xticks(ticks, labels)
    ax.set_yticks(ticks, labels)
    ax.plot(ticks, ticks, color="grey", lw=0.6, ls=":")
    ax.set_xlim(ticks[0], ticks[-1])
    ax.set_ylim(ticks[0], ticks[-1])
    ax.set_xlabel("false acceptance of spoofs (%)")
    ax.set_ylabel("miss of bonafide (%)")
    ax.set_title(title)
    ax.legend(fontsize=7, frameon=False, loc="upper right")
    return _save(fig, out)


def factor_levels_plot(frame: pd.DataFrame, factors: list[str], out: Path) -> Path:
    """EER (%) per factor level: every run as a point (seed spread), the mean as a bar.

    Args:
        frame: rows (run, eval set) with factor columns, ``eval_set`` and ``value`` (0-1).
    """
    eval_sets = list(dict.fromkeys(frame["eval_set"]))
    fig, axes = plt.subplots(len(eval_sets), len(factors), squeeze=False, dpi=110,
                             figsize=(3.2 * len(factors) + 0.5, 2.8 * len(eval_sets) + 0.4))
    for i, eval_set in enumerate(eval_sets):
        part = frame[frame["eval_set"] == eval_set]
        for j, factor in enumerate(factors):
            ax = axes[i][j]
            levels = list(dict.fromkeys(part[factor]))
            for k, level in enumerate(levels):
                values = 100 * part.loc[part[factor] == level, "value"].to_numpy()
                ax.bar(k, values.mean(), color="#9ecae1", width=0.6)
                jitter = np.linspace(-0.12, 0.12, len(values)) if len(values) > 1 else [0.0]
                ax.scatter(k + np.asarray(jitter), values, color="#08519c", s=14, zorder=3)
            ax.set_xticks(range(len(levels)), levels)
            ax.set_title(f"{factor} ({eval_set})", fontsize=9)
            ax.set_ylabel("EER (%)" if j == 0 else "")
            ax.spines[["top", "right"]].set_visible(False)
    return _save(fig, out)


def sharpness_scatter(frame: pd.DataFrame, out: Path) -> Path:
    """Sharpness against EER (%), one colour per eval set.

    Args:
        frame: rows with ``eval_set``, ``sharpness`` and ``eer`` (0-1).
    """
    fig, ax = plt.subplots(figsize=(4.6, 3.8), dpi=120)
    for eval_set, part in frame.groupby("eval_set"):
        ax.scatter(part["sharpness"], 100 * part["eer"], label=str(eval_set), s=18)
    ax.set_xlabel("m-sharpness")
    ax.set_ylabel("EER (%)")
    ax.legend(fontsize=7, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return _save(fig, out)
