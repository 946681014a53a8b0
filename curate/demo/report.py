"""The demo's report: the ablation report (:mod:`curate.ablate.ablation_report`, whose
interval, calibration and overlap sections show what :mod:`curate.demo.evaluation`
stored) with the demo's own sections after it.

:func:`demo_sections` lists those sections, each a list of markdown lines; a further one
(a leaderboard, ...) is one more entry there or in ``write_demo_report(sections=...)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from curate.ablate.ablation_report import load_ablation_frames, write_ablation_report
from curate.ablate.eval_sections import run_metrics, with_interval
from curate.ablate.report import markdown_table
from curate.catalog.db import Catalog
from curate.demo.evaluation import CALIBRATE_ON, RESAMPLES, UNSEEN, UNSEEN_SET
from curate.train.overlap import METRICS as OVERLAP_METRICS
from curate.train.overlap import restriction

__all__ = ["unseen_vocoder_table", "unseen_vocoder_section", "demo_sections",
           "write_demo_report"]


def unseen_vocoder_table(results: pd.DataFrame) -> pd.DataFrame:
    """Per run: EER on test, then on the unseen-vocoder set its EER and minDCF with
    their 95 % intervals, actDCF before and after calibration, and its overlap.

    Args:
        results: an ablation's long results (:func:`load_ablation_frames`).
    """
    wide = run_metrics(results)
    test = wide[wide["eval_set"] == "test"].set_index("run_id")
    unseen = wide[wide["eval_set"] == UNSEEN_SET]
    rows = []
    for r in unseen.itertuples(index=False):
        values = r._asdict()
        ci = all(k in values and values[k] == values[k]
                 for k in ("eer_ci_low", "eer_ci_high", "min_dcf_ci_low", "min_dcf_ci_high"))
        calibrated = values.get("cal_act_dcf")
        rows.append({
            "cell": r.cell, "repeat": r.repeat,
            "EER % test": round(100 * test.loc[r.run_id, "eer"], 2)
            if r.run_id in test.index else None,
            "EER % unseen [95 % CI]": with_interval(r.eer, r.eer_ci_low, r.eer_ci_high,
                                                    percent=True) if ci
            else f"{100 * r.eer:.2f}",
            "minDCF unseen [95 % CI]": with_interval(r.min_dcf, r.min_dcf_ci_low,
                                                     r.min_dcf_ci_high, percent=False) if ci
            else f"{r.min_dcf:.4f}",
            "actDCF unseen": round(values["act_dcf"], 4),
            "actDCF calibrated": None if calibrated is None or calibrated != calibrated
            else round(calibrated, 4),
            "overlap": restriction({m: values[m] for m in OVERLAP_METRICS if m in values})})
    return pd.DataFrame(rows)


def unseen_vocoder_section(catalog: Catalog, ablation: str) -> list[str]:
    """The demo's headline: how every run does on the vocoder training never saw."""
    _, results, _ = load_ablation_frames(catalog, ablation)
    if results.empty or not (results["eval_set"] == UNSEEN_SET).any():
        return []
    generators = ", ".join(f"`{c}:{g}`" for c, g in UNSEEN.items())
    return ["## The unseen vocoder", "",
            f"`{UNSEEN_SET}` is the test set's bonafide speech against the spoofs of the LPC "
            f"vocoder ({generators}), which no training run saw, scored with the runs' "
            f"test scores. Intervals: {RESAMPLES} bootstrap resamples of the trials. "
            f"Calibration: fitted on each run's `{CALIBRATE_ON}` set, applied here. Overlap: "
            "what the set shares with the run's training data.", "",
            markdown_table(unseen_vocoder_table(results)), ""]


def demo_sections(catalog: Catalog, ablation: str) -> list[list[str]]:
    """The demo's sections after the ablation report's, in order (empty ones dropped)."""
    return [s for s in (unseen_vocoder_section(catalog, ablation),) if s]


def write_demo_report(catalog: Catalog, ablation: str, out_dir: Path | str, *,
                      sections: Sequence[list[str]] = ()) -> Path:
    """Write ``out_dir/report.md`` and ``report.html``: the ablation report, the demo's
    sections, then ``sections``; returns report.md's path."""
    return write_ablation_report(catalog, ablation, out_dir,
                                 sections=[*demo_sections(catalog, ablation), *sections])
