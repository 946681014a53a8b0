"""Report sections beyond the point estimate: bootstrap intervals, calibration and the
training-overlap restriction of every run's eval sets.

Pure functions from an ablation's long results frame (one row per run, eval set, eval
group and metric: ``run_id, cell, repeat, eval_set, eval_group, metric, value``) to
markdown lines. A section whose metrics no run holds is empty (``[]``), so a report shows
only what was measured: intervals come from ``curate eval --bootstrap N`` (or the demo),
calibration from ``curate calibrate``, the overlap restriction from every run's end.
"""

from __future__ import annotations

import pandas as pd

from curate.ablate.report import markdown_table
from curate.train.overlap import METRICS as OVERLAP_METRICS
from curate.train.overlap import restriction

__all__ = ["run_metrics", "with_interval", "interval_cells", "interval_section",
           "calibration_section", "overlap_section"]

CI_METRICS = ("eer_ci_low", "eer_ci_high", "min_dcf_ci_low", "min_dcf_ci_high")
CALIBRATION_METRICS = ("act_dcf", "cal_act_dcf", "cllr", "cal_cllr", "min_cllr",
                       "cal_scale", "cal_offset")
_KEYS = ["cell", "repeat", "run_id", "eval_set"]


def run_metrics(results: pd.DataFrame, eval_group: str = "all") -> pd.DataFrame:
    """One row per (cell, repeat, run, eval set) and one column per metric of the group."""
    part = results[results["eval_group"] == eval_group]
    if part.empty:
        return pd.DataFrame(columns=_KEYS)
    wide = part.pivot_table(index=_KEYS, columns="metric", values="value", aggfunc="first")
    wide.columns.name = None
    return wide.reset_index()


def with_interval(value: float, low: float, high: float, *, percent: bool) -> str:
    """``"value [low, high]"``: fractions as % with 2 decimals, or 4 decimals."""
    if percent:
        return f"{100 * value:.2f} [{100 * low:.2f}, {100 * high:.2f}]"
    return f"{value:.4f} [{low:.4f}, {high:.4f}]"


def _has(frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.Series:
    if not set(columns) <= set(frame.columns):
        return pd.Series(False, index=frame.index)
    return frame[list(columns)].notna().all(axis=1)


def interval_cells(wide: pd.DataFrame) -> dict[tuple[str, str], str]:
    """``(cell, eval_set) -> "EER [lo, hi]"`` (%) of the cells with one run that has a
    stored EER interval (a cell of several seeds shows its seed spread instead)."""
    rows = wide[_has(wide, ("eer", "eer_ci_low", "eer_ci_high"))]
    single = wide.groupby("cell")["run_id"].nunique()
    return {(r.cell, r.eval_set): with_interval(r.eer, r.eer_ci_low, r.eer_ci_high,
                                                percent=True)
            for r in rows.itertuples(index=False) if single.get(r.cell, 0) == 1}


def interval_section(wide: pd.DataFrame) -> list[str]:
    """Bootstrap 95 % intervals of EER (%) and minDCF per run and eval set."""
    rows = wide[_has(wide, CI_METRICS + ("eer", "min_dcf"))]
    if rows.empty:
        return []
    table = pd.DataFrame({
        "cell": rows["cell"], "repeat": rows["repeat"], "eval_set": rows["eval_set"],
        "EER % [95 % CI]": [with_interval(r.eer, r.eer_ci_low, r.eer_ci_high, percent=True)
                            for r in rows.itertuples(index=False)],
        "minDCF [95 % CI]": [with_interval(r.min_dcf, r.min_dcf_ci_low, r.min_dcf_ci_high,
                                           percent=False)
                             for r in rows.itertuples(index=False)]})
    return ["## Bootstrap 95 % intervals", "",
            "EER and minDCF of each run with their percentile bootstrap intervals: the "
            "bonafide and the spoof trials are resampled with replacement, each class apart "
            "(`curate eval --bootstrap N`). Overlapping intervals mean the eval set cannot "
            "tell the runs apart.", "", markdown_table(table), ""]


def calibration_section(wide: pd.DataFrame, *, fitted_on: str | None = None) -> list[str]:
    """actDCF and Cllr (bits) before and after calibration, minCllr, per run and set."""
    rows = wide[_has(wide, CALIBRATION_METRICS)]
    if rows.empty:
        return []
    table = pd.DataFrame({
        "cell": rows["cell"], "repeat": rows["repeat"], "eval_set": rows["eval_set"],
        "actDCF": rows["act_dcf"].round(4), "actDCF calibrated": rows["cal_act_dcf"].round(4),
        "Cllr": rows["cllr"].round(4), "Cllr calibrated": rows["cal_cllr"].round(4),
        "minCllr": rows["min_cllr"].round(4), "scale": rows["cal_scale"].round(4),
        "offset": rows["cal_offset"].round(4)})
    where = (f"fitted on each run's `{fitted_on}` set and applied to its other sets"
             if fitted_on else "fitted on one eval set of each run and applied to the others "
             "(`curate calibrate RUN --on SET`)")
    return ["## Calibration", "",
            f"Scores mapped to log-likelihood ratios by an affine calibration {where}. "
            "actDCF is the normalised detection cost at the Bayes threshold of the "
            "operating point, Cllr (bits) the cost over all operating points; minCllr is "
            "the Cllr of the best monotone transform, what calibration could reach.", "",
            markdown_table(table), ""]


def overlap_section(wide: pd.DataFrame) -> list[str]:
    """Each eval set's training-overlap restriction next to its EER (%)."""
    present = [m for m in OVERLAP_METRICS if m in wide.columns]
    rows = wide[wide[present].notna().any(axis=1)] if present and "eer" in wide else wide[:0]
    if rows.empty:
        return []
    labels = [restriction({m: getattr(r, m) for m in present})
              for r in rows.itertuples(index=False)]
    table = pd.DataFrame({"cell": rows["cell"], "repeat": rows["repeat"],
                          "eval_set": rows["eval_set"],
                          "EER %": (100 * rows["eer"]).round(2), "overlap": labels})
    return ["## Training overlap", "",
            "What each eval set shares with the run's training data: corpora, related "
            "corpora (lineage), speakers, source utterances, identical audio; `none` means "
            "unseen in every sense the catalog can check.", "", markdown_table(table), ""]
