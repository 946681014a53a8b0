"""A markdown report of one or more runs, read from the catalog alone.

Everything in it comes from SQL over the catalog, so it can be regenerated at
any time with the catalog file (and nothing else).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from curate.ablate import plots, sql
from curate.catalog.db import Catalog
from curate.train import sql as train_sql
from curate.train.overlap import METRICS as OVERLAP_METRICS
from curate.train.overlap import restriction


def markdown_table(frame: pd.DataFrame, *, floats: str = "{:.4g}") -> str:
    """A GitHub-flavoured markdown table of ``frame``."""
    def cell(value) -> str:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return ""
        if isinstance(value, float):
            return floats.format(value)
        return str(value).replace("|", "\\|")

    header = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "| " + " | ".join("---" for _ in frame.columns) + " |"
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def _interval(low: pd.Series, high: pd.Series, scale: float, digits: int) -> list[str]:
    return ["" if lo != lo or hi != hi
            else f"[{scale * lo:.{digits}f}, {scale * hi:.{digits}f}]"
            for lo, hi in zip(low, high)]


def results_table(catalog: Catalog, run_id: str) -> pd.DataFrame:
    """EER (in %) and minDCF per eval set and group of a run, with each eval set's
    training-overlap restriction (``overlap``: ``none``, or what it shares with the
    training data; see :mod:`curate.train.overlap`).

    Where the run holds bootstrap intervals (``curate eval --bootstrap``), the columns
    ``eer_95%_ci`` (in %) and ``min_dcf_95%_ci`` follow the values as ``[lo, hi]``."""
    frame = catalog.df(sql.RESULTS_WIDE, [run_id])
    intervals = frame[["eer_ci_low", "eer_ci_high"]].notna().all(axis=1).any()
    frame["eer_%"] = (100 * frame.pop("eer")).round(2)
    frame["min_dcf"] = frame["min_dcf"].round(4)
    frame["eer_95%_ci"] = _interval(frame["eer_ci_low"], frame["eer_ci_high"], 100, 2)
    frame["min_dcf_95%_ci"] = _interval(frame["min_dcf_ci_low"], frame["min_dcf_ci_high"],
                                        1, 4)
    for column in ("n_bonafide", "n_spoof"):
        frame[column] = frame[column].astype("Int64")
    counts = frame[list(OVERLAP_METRICS)]
    frame["overlap"] = [restriction({k: v for k, v in row.items() if v == v})
                        for row in counts.to_dict("records")]
    values = (["eer_%", "eer_95%_ci", "min_dcf", "min_dcf_95%_ci"] if intervals
              else ["eer_%", "min_dcf"])
    return frame[["eval_set", "eval_group", *values, "n_bonafide", "n_spoof", "overlap"]]


def write_run_report(catalog: Catalog, run_ids: list[str], out_dir: Path | str, *,
                     title: str = "curate report", selection: str | None = None,
                     notes: str = "") -> Path:
    """Write ``out_dir/report.md`` with composition and DET plots; returns its path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    lines = [f"# {title}", ""]
    if notes:
        lines += [notes.strip(), ""]

    composition = catalog.df(sql.COMPOSITION)
    plots.composition_bars(composition, out_dir / "composition.png", by="language",
                           value="minutes", title="Catalog: minutes by language and label")
    lines += ["## Catalog", "", "![composition](composition.png)", "",
              markdown_table(composition), ""]

    if selection is not None:
        lines += [f"## Selection `{selection}`", "",
                  markdown_table(catalog.df(sql.SELECTION_COMPOSITION, [selection])), ""]

    for run_id in run_ids:
        info = catalog.execute(sql.RUN_INFO, [run_id]).fetchone()
        if info is None:
            continue
        config = json.loads(info[2])
        lines += [f"## Run `{run_id}`", "",
                  f"status {info[3]}, code {info[4]}, model `{config['train']['model']}`, "
                  f"{config['train']['steps']} steps, seed {config['train']['seed']}", ""]
        table = results_table(catalog, run_id)
        lines += [markdown_table(table), ""]
        for eval_set in sorted(table["eval_set"].unique()):
            scored = catalog.df(train_sql.RUN_SCORES, [run_id, eval_set])
            bona = scored.loc[scored.label == "bonafide", "score"].to_numpy()
            curves = {"all": (bona, scored.loc[scored.label == "spoof", "score"].to_numpy())}
            for gen, part in scored[scored.label == "spoof"].groupby("generator"):
                curves[str(gen)] = (bona, part["score"].to_numpy())
            if len(bona) == 0 or len(curves["all"][1]) == 0:
                continue
            name = f"det_{run_id}_{eval_set}.png"
            plots.det_plot(curves, out_dir / name, title=f"DET: {eval_set}")
            lines += [f"![DET {eval_set}]({name})", ""]
    report = out_dir / "report.md"
    report.write_text("\n".join(lines))
    return report
