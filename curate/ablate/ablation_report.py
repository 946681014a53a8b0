"""The ablation report: ``DIR/report/report.md`` and a self-contained ``report.html``.

Every number is read from the catalog by SQL (``ablations``, ``ablation_runs``,
``runs``, ``results``, ``scores``, ``selection_items``), so the report can be
regenerated at any time from the catalog file alone (``curate ablate --report-only``).
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from curate.ablate import plots, sql
from curate.ablate.analysis import factor_effects
from curate.ablate.eval_sections import (calibration_section, interval_cells, interval_section,
                                         overlap_section, run_metrics)
from curate.ablate.report import markdown_table
from curate.ablate.seeds import mean_std_best, seed_summary
from curate.catalog.db import Catalog
from curate.errors import CurateError
from curate.train import sql as train_sql
from curate.train.metrics import correlation
from curate.train.run import parse_ref

GROUP_KINDS = ("generator", "language", "codec", "corpus")


def _training_data(config: dict) -> tuple[str | None, str]:
    """(selection, split) a run trained on, from its stored ``RunSpec`` config."""
    if not config.get("selection"):
        return None, ""
    return parse_ref(config.get("train_split", "train"), config["selection"])


def load_ablation_frames(catalog: Catalog, name: str) -> tuple[pd.DataFrame, pd.DataFrame,
                                                                list[str]]:
    """(runs, results, factor names) of ablation ``name``; factor levels as columns."""
    if catalog.execute(sql.ABLATION_INFO, [name]).fetchone() is None:
        raise CurateError(f"no ablation named {name!r} in {catalog.path}; run `curate ablate`")
    runs = catalog.df(sql.ABLATION_RUNS, [name])
    levels = [json.loads(v) for v in runs["levels"]]
    factors = list(dict.fromkeys(k for level in levels for k in level))
    for factor in factors:
        runs[factor] = [level.get(factor) for level in levels]
    results = catalog.df(sql.ABLATION_RESULTS, [name])
    if len(results):
        parsed = [json.loads(v) for v in results["levels"]]
        for factor in factors:
            results[factor] = [level.get(factor) for level in parsed]
    return runs, results, factors


def _pct(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    out = frame.copy()
    for column in columns:
        out[column] = (100 * out[column]).round(2)
    return out


def _mean_std(mean: float, std: float) -> str:
    return f"{100 * mean:.2f} ± {100 * std:.2f}"


def write_ablation_report(catalog: Catalog, name: str, out_dir: Path | str, *,
                          sections: Sequence[list[str]] = ()) -> Path:
    """Write the report of ablation ``name`` into ``out_dir``; returns report.md's path.

    ``sections`` are more sections (markdown lines, each starting with its ``## ``
    heading) appended after the ablation's own, e.g. a leaderboard or the demo's notes.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    runs, results, factors = load_ablation_frames(catalog, name)
    info = catalog.execute(sql.ABLATION_INFO, [name]).fetchone()
    lines = [f"# Ablation `{name}`", "",
             f"spec hash `{info[2][:12]}`, {len(runs)} runs "
             f"({int((runs['status'] == 'finished').sum())} finished), factors: "
             + ", ".join(f"**{f}** ({', '.join(dict.fromkeys(runs[f]))})" for f in factors), ""]

    lines += ["## The grid", "", markdown_table(
        runs[factors + ["repeat", "seed", "status", "seconds", "run_id"]]), ""]

    eer = results[(results["metric"] == "eer") & (results["eval_group"] == "all")]
    if eer.empty:
        lines += ["No finished run has results yet.", ""]
        return _finish(out_dir, lines, title=name)

    per_run = run_metrics(results)
    lines += _cell_section(eer, factors, interval_cells(per_run))

    effects = factor_effects(eer, factors)
    shown = effects.assign(
        mean=[_mean_std(m, s) for m, s in zip(effects["mean"], effects["std"])],
        effect=[("" if level == ref else f"{100 * d:+.2f} ± {100 * s:.2f} (n={n})")
                for level, ref, d, s, n in zip(effects["level"], effects["reference"],
                                               effects["diff_mean"], effects["diff_std"],
                                               effects["diff_n"])])
    lines += ["## Effect of each factor", "",
              "Marginal mean EER (%) per level, and the paired difference with the reference "
              "level (same other levels, seed and eval set): negative = the level helps.", "",
              markdown_table(shown[["eval_set", "factor", "level", "reference", "mean",
                                    "effect"]]), ""]
    plots.factor_levels_plot(eer, factors, out_dir / "eer_by_factor.png")
    lines += ["![EER per factor level](eer_by_factor.png)", ""]

    for kind in GROUP_KINDS:
        part = results[(results["metric"] == "eer")
                       & results["eval_group"].str.startswith(f"{kind}=")]
        if part.empty:
            continue
        part = part.assign(group=part["eval_group"].str.slice(len(kind) + 1))
        table = (part.groupby(["eval_set", "group", "cell"])["value"].mean().mul(100).round(2)
                 .unstack("cell").reset_index())
        lines += [f"## EER (%) per {kind}", "", "Mean over seeds, one column per cell.", "",
                  markdown_table(table), ""]

    lines += interval_section(per_run)
    lines += calibration_section(per_run)
    lines += overlap_section(per_run)
    lines += _det_section(catalog, eer, out_dir)
    lines += _composition_section(catalog, runs, out_dir)
    lines += _sharpness_section(results, out_dir)
    for section in sections:
        lines += [*section, ""] if section and section[-1] else list(section)
    return _finish(out_dir, lines, title=name)


def _cell_section(eer: pd.DataFrame, factors: list[str],
                  intervals: dict[tuple[str, str], str]) -> list[str]:
    """EER (%) per cell and eval set: "mean ± std (best)" over seeds, or one run's EER
    with its bootstrap interval "[lo, hi]" where one is stored."""
    summary = seed_summary(eer, by="cell", metrics=("eer",))
    shown = [intervals.get((c, e)) if n == 1 and (c, e) in intervals
             else mean_std_best(m, s, n, b)
             for c, e, n, m, s, b in zip(summary["cell"], summary["eval_set"], summary["n"],
                                         summary["mean"], summary["std"], summary["best"])]
    wide = summary.assign(shown=shown).pivot_table(index="cell", columns="eval_set",
                                                   values="shown", aggfunc="first")
    wide.columns.name = None
    levels = eer.drop_duplicates("cell").set_index("cell")[factors]
    seeds = eer.groupby("cell")["run_id"].nunique().rename("seeds")
    order = sorted(eer["cell"].unique())
    table = levels.join(seeds).join(wide).loc[order].reset_index(drop=True)
    return ["## EER (%) per cell and eval set", "",
            "Mean ± standard deviation over seeds (ddof 1) and, in brackets, the best seed's "
            "EER: the convention of published results. A cell with one seed shows its EER, "
            "with its bootstrap 95 % interval [lo, hi] where one is stored. Lower is "
            "better.", "", markdown_table(table), ""]


def _det_section(catalog: Catalog, eer: pd.DataFrame, out_dir: Path) -> list[str]:
    lines = []
    for eval_set, part in eer.groupby("eval_set"):
        ordered = part.sort_values("value")
        best, worst = ordered.iloc[0], ordered.iloc[-1]
        curves = {}
        for tag, row in (("best", best), ("worst", worst)):
            scored = catalog.df(train_sql.RUN_SCORES, [row["run_id"], eval_set])
            bona = scored.loc[scored["label"] == "bonafide", "score"].to_numpy()
            spoof = scored.loc[scored["label"] == "spoof", "score"].to_numpy()
            if len(bona) and len(spoof):
                curves[f"{tag}: {row['cell']} r{row['repeat']}"] = (bona, spoof)
        if curves:
            name = f"det_{_slug(eval_set)}.png"
            plots.det_plot(curves, out_dir / name, title=f"DET, best and worst: {eval_set}")
            lines += [f"![DET {eval_set}]({name})", ""]
    return (["## DET curves of the best and worst runs", ""] + lines) if lines else []


def _composition_section(catalog: Catalog, runs: pd.DataFrame, out_dir: Path) -> list[str]:
    seen: dict[tuple[str, str], None] = {}
    for config in runs["config"].dropna():
        selection, split = _training_data(json.loads(config))
        if selection and split:
            seen[(selection, split)] = None
    lines = []
    for selection, split in seen:
        table = catalog.df(sql.SELECTION_SPLIT_HOURS, [selection, split])
        if table.empty:
            continue
        name = f"composition_{_slug(selection)}_{_slug(split)}.png"
        plots.composition_bars(table.assign(minutes=60 * table["hours"]), out_dir / name,
                               by="language", value="minutes",
                               title=f"Training data: {selection}/{split}")
        lines += [f"### `{selection}` / {split}", "", f"![composition]({name})", "",
                  markdown_table(table), ""]
    return (["## Training data", ""] + lines) if lines else []


def _sharpness_section(results: pd.DataFrame, out_dir: Path) -> list[str]:
    sharp = results[(results["metric"] == "sharpness") & (results["eval_group"] == "all")]
    eer = results[(results["metric"] == "eer") & (results["eval_group"] == "all")]
    if sharp.empty:
        return []
    pairs = sharp.merge(eer, on=["run_id", "eval_set"], suffixes=("_sharp", "_eer"))
    rows = []
    for eval_set, part in pairs.groupby("eval_set"):
        stats = correlation(part["value_sharp"].to_numpy(), part["value_eer"].to_numpy())
        rows.append({"eval_set": eval_set, **stats})
    table = pd.DataFrame(rows)
    plots.sharpness_scatter(pairs.rename(columns={"value_sharp": "sharpness",
                                                  "value_eer": "eer",
                                                  "cell_sharp": "cell"}),
                            out_dir / "sharpness_vs_eer.png")
    return ["## Sharpness and EER", "",
            "m-sharpness per run and eval set against its EER; rank correlations across runs.",
            "", "![sharpness vs EER](sharpness_vs_eer.png)", "", markdown_table(table), ""]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text))


def _finish(out_dir: Path, lines: list[str], *, title: str) -> Path:
    report = out_dir / "report.md"
    text = "\n".join(lines)
    report.write_text(text)
    (out_dir / "report.html").write_text(markdown_to_html(text, out_dir, title=title))
    return report


def markdown_to_html(text: str, base: Path, *, title: str) -> str:
    """A self-contained HTML page of the report's markdown subset, images inlined."""
    body: list[str] = []
    table: list[list[str]] = []

    def flush_table() -> None:
        if not table:
            return
        head, *rest = table
        body.append("<table><thead><tr>" + "".join(f"<th>{c}</th>" for c in head)
                    + "</tr></thead><tbody>"
                    + "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>"
                              for row in rest) + "</tbody></table>")
        table.clear()

    for line in text.splitlines():
        if line.startswith("| "):
            cells = [html.escape(c.strip().replace("\\|", "|"))
                     for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            if not all(set(c) <= {"-"} for c in cells):
                table.append(cells)
            continue
        flush_table()
        image = re.match(r"!\[(.*)\]\((.+)\)", line)
        if image:
            data = base64.b64encode((base / image.group(2)).read_bytes()).decode()
            body.append(f'<p><img alt="{html.escape(image.group(1))}" '
                        f'src="data:image/png;base64,{data}"></p>')
        elif line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            body.append(f"<h{level}>{_inline(line[level:].strip())}</h{level}>")
        elif line.strip():
            body.append(f"<p>{_inline(line)}</p>")
    flush_table()
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
             "table{border-collapse:collapse;margin:1em 0;font-size:90%}"
             "td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}"
             "th{background:#f3f3f3}img{max-width:100%}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
            f"</title><style>{style}</style></head><body>{''.join(body)}</body></html>")


def _inline(text: str) -> str:
    text = html.escape(text)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    return re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", text)

