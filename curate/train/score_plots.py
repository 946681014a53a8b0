"""Figures of an evaluation (matplotlib, Agg backend, no display): score histograms per
class and per generator, EER per robustness condition, 2-D embedding projections.

Each figure has a ``draw_*`` function returning the :class:`matplotlib.figure.Figure`
(inspectable: one axes per panel) and a ``write_*`` function that saves it as a PNG and
frees it. Scores are higher = more bonafide.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from curate.train.metrics import compute_eer  # noqa: E402

__all__ = ["draw_score_histograms", "write_score_histograms", "draw_condition_plot",
           "write_condition_plot", "draw_projection", "write_projection", "save_figure"]

CLASS_COLOURS = {"bonafide": "#2b7bba", "spoof": "#d9534f"}
_COLUMNS = 4


def save_figure(fig: Figure, out: Path | str) -> Path:
    """Lay out, write ``out`` (creating its folder) and free the figure."""
    out = Path(out)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def _check_scored(frame: pd.DataFrame, needed: tuple[str, ...]) -> None:
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(f"scores need columns {', '.join(needed)}; {missing[0]!r} is missing")
    if frame.empty:
        raise ValueError("no scores to plot; score the eval set first (`curate eval`)")


def _edges(scores: np.ndarray, bins: int) -> np.ndarray:
    low, high = float(np.min(scores)), float(np.max(scores))
    if high <= low:
        low, high = low - 0.5, high + 0.5
    return np.linspace(low, high, bins + 1)


def draw_score_histograms(scored: pd.DataFrame, *, bins: int = 40,
                          title: str = "Scores") -> Figure:
    """Score histograms: panel 1 bonafide vs spoof; then one panel per generator, its
    spoofs against all bonafide trials (the ``generator=G`` groups of the results), EER
    in each panel's title.

    Args:
        scored: one row per trial with ``score``, ``label`` and ``generator`` (null for
            bonafide; a spoof without one counts as ``<none>``).
        bins: bins over the whole score range (shared by every panel).

    Returns:
        A figure with ``1 + number of generators`` axes.
    """
    _check_scored(scored, ("score", "label", "generator"))
    if bins < 1:
        raise ValueError(f"bins must be >= 1, got {bins}")
    score = scored["score"].to_numpy(dtype=np.float64)
    is_bona = (scored["label"] == "bonafide").to_numpy()
    generator = scored["generator"].astype("string").fillna("<none>").to_numpy()
    generators = sorted(set(generator[~is_bona].tolist()))
    edges = _edges(score, bins)
    panels = [("all", ~is_bona)] + [(g, ~is_bona & (generator == g)) for g in generators]
    cols = min(_COLUMNS, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.6 * rows), dpi=110,
                             squeeze=False)
    flat = axes.ravel()
    for ax in flat[len(panels):]:
        fig.delaxes(ax)
    for ax, (name, spoof) in zip(flat, panels):
        bona_scores, spoof_scores = score[is_bona], score[spoof]
        if len(bona_scores):
            ax.hist(bona_scores, bins=edges, alpha=0.6, color=CLASS_COLOURS["bonafide"],
                    label=f"bonafide ({len(bona_scores)})")
        ax.hist(spoof_scores, bins=edges, alpha=0.6, color=CLASS_COLOURS["spoof"],
                label=f"{'spoof' if name == 'all' else name} ({len(spoof_scores)})")
        heading = "bonafide vs spoof" if name == "all" else name
        if len(bona_scores) and len(spoof_scores):
            eer, _ = compute_eer(bona_scores, spoof_scores)
            heading += f"  EER {100 * eer:.2f}%"
        ax.set_title(heading, fontsize=9)
        ax.set_xlabel("score (higher = more bonafide)", fontsize=8)
        ax.legend(frameon=False, fontsize=7)
        ax.spines[["top", "right"]].set_visible(False)
    fig.suptitle(title, fontsize=10)
    return fig


def write_score_histograms(scored: pd.DataFrame, out: Path | str, *, bins: int = 40,
                           title: str = "Scores") -> Path:
    """:func:`draw_score_histograms` written to the PNG ``out``."""
    return save_figure(draw_score_histograms(scored, bins=bins, title=title), out)


def draw_condition_plot(table: pd.DataFrame, *, title: str = "EER per condition") -> Figure:
    """Bars of EER (%) per robustness condition, in table order, the clean EER as a line.

    Args:
        table: ``condition`` and ``eer`` (0-1) columns
            (:func:`curate.train.degrade.condition_table`).
    """
    _check_scored(table, ("condition", "eer"))
    names = table["condition"].astype(str).tolist()
    eer = 100 * table["eer"].to_numpy(dtype=np.float64)
    fig, ax = plt.subplots(figsize=(max(4.0, 0.55 * len(names) + 1.5), 3.4), dpi=120)
    colours = ["#7f7f7f" if n == "clean" else "#d9534f" for n in names]
    ax.bar(names, eer, color=colours)
    if "clean" in names:
        ax.axhline(eer[names.index("clean")], color="#7f7f7f", linestyle="--", linewidth=1)
    ax.set_ylabel("EER (%)")
    ax.set_title(title, fontsize=10)
    ax.tick_params(axis="x", labelrotation=60, labelsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def write_condition_plot(table: pd.DataFrame, out: Path | str, *,
                         title: str = "EER per condition") -> Path:
    """:func:`draw_condition_plot` written to the PNG ``out``."""
    return save_figure(draw_condition_plot(table, title=title), out)


def draw_projection(points: np.ndarray, colour: pd.Series, *, title: str = "Embeddings",
                    axis_labels: tuple[str, str] = ("dim 1", "dim 2")) -> Figure:
    """A scatter of 2-D points, one colour (and legend entry) per value of ``colour``.

    Args:
        points: float ``(n, 2)``.
        colour: ``n`` values (label, corpus, generator ...); nulls become ``<none>``.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) != len(colour):
        raise ValueError(f"points must be (n, 2) with one colour value per row, got "
                         f"{points.shape} and {len(colour)} values")
    values = pd.Series(colour).astype("string").fillna("<none>").to_numpy()
    fig, ax = plt.subplots(figsize=(5.6, 4.6), dpi=120)
    cmap = plt.get_cmap("tab10" if len(set(values)) <= 10 else "tab20")
    for k, value in enumerate(sorted(set(values.tolist()))):
        mask = values == value
        ax.scatter(points[mask, 0], points[mask, 1], s=10, alpha=0.75,
                   color=CLASS_COLOURS.get(value, cmap(k % cmap.N)),
                   label=f"{value} ({int(mask.sum())})")
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
    ax.set_title(title, fontsize=10)
    ax.legend(frameon=False, fontsize=7, markerscale=1.5, loc="best")
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def write_projection(points: np.ndarray, colour: pd.Series, out: Path | str, *,
                     title: str = "Embeddings",
                     axis_labels: tuple[str, str] = ("dim 1", "dim 2")) -> Path:
    """:func:`draw_projection` written to the PNG ``out``."""
    return save_figure(draw_projection(points, colour, title=title, axis_labels=axis_labels),
                       out)
