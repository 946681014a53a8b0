"""Pictures of a run's evaluation: `curate plot scores` (histograms of stored scores) and
`curate embed` (pooled embeddings to Parquet, a 2-D projection plot)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Optional

import typer

from curate.cli.common import DbOption, SkipUnavailableOption, app, catalog_ref, console
from curate.errors import CurateError

plot_app = typer.Typer(add_completion=False, no_args_is_help=True,
                       help="Plots of a run's stored evaluation.")
app.add_typer(plot_app, name="plot")


@plot_app.command("scores")
def plot_scores(
    run: str = typer.Argument(..., metavar="RUN", help="A run id (runs.run_id)."),
    on: str = typer.Option(..., "--on", metavar="SET", help="One of the run's eval sets "
                                                           "(scores.eval_set)."),
    out: Optional[Path] = typer.Option(None, "--out", metavar="DIR",
                                       help="Folder of the PNG (default: the run's "
                                            "scores/ folder)."),
    bins: int = typer.Option(40, "--bins", min=1, help="Bins over the score range."),
    condition: Optional[str] = typer.Option(None, "--condition", metavar="NAME",
                                            help="The scores under a condition of "
                                                 "`curate eval --degrade` instead of the "
                                                 "clean ones."),
    db: Optional[Path] = DbOption,
) -> None:
    """Score histograms of an eval set: bonafide vs spoof, one panel per generator."""
    from curate.catalog.db import open_catalog
    from curate.train import sql
    from curate.train.condition_scores import (condition_file, condition_scores,
                                               stored_conditions)
    from curate.train.evaluate import score_file_stem
    from curate.train.score_plots import write_score_histograms

    with open_catalog(catalog_ref(db).path, read_only=True) as catalog:
        row = catalog.execute(sql.RUN_ROW, [run]).fetchone()
        if row is None:
            raise CurateError(f"no run {run!r} in {catalog.path}; list runs with "
                              "`SELECT run_id, status FROM runs`")
        scored = catalog.df(sql.RUN_SCORES, [run, on])
        if scored.empty:
            sets = [r[0] for r in catalog.execute(sql.RUN_EVAL_SETS, [run]).fetchall()]
            raise CurateError(f"run {run} has no scores for eval set {on!r}; its eval sets "
                              f"are {', '.join(sets) or 'none (score one with curate eval)'}")
    run_dir = json.loads(row[2]).get("run_dir")
    folder = out if out is not None else Path(run_dir) / "scores" if run_dir else Path(".")
    stem, title = score_file_stem(on), f"run {run} on {on}"
    if condition is not None and condition != "clean":
        source = condition_file(run_dir or ".", on, condition)
        if not source.is_file():
            known = stored_conditions(run_dir or ".", on)
            raise CurateError(f"--condition: run {run} has no scores of eval set {on!r} under "
                              f"{condition!r} ({source} is absent); its conditions are "
                              + (", ".join(["clean", *known]) if known else "clean only "
                                 "(score some with `curate eval --degrade GRID.toml`)"))
        scored = condition_scores(scored, source)
        stem, title = f"{stem}.condition={condition}", f"{title} under {condition}"
    path = write_score_histograms(scored, folder / f"{stem}.histograms.png", bins=bins,
                                  title=title)
    generators = scored.loc[scored["label"] != "bonafide", "generator"].nunique(dropna=False)
    console.print(f"wrote {path} ({len(scored)} trials, {generators} generator(s))",
                  highlight=False)


@app.command("embed")
def embed(
    run: str = typer.Argument(..., metavar="RUN", help="A run id (runs.run_id)."),
    on: str = typer.Option(..., "--on", metavar="SELECTION", help="The selection to embed."),
    out: Path = typer.Option(..., "--out", metavar="FILE.parquet",
                             help="Parquet file: one row per utterance, the embedding as "
                                  "a fixed-size list."),
    split: str = typer.Option("test", "--split", help="Its split ('all': every split)."),
    plot: Optional[Path] = typer.Option(None, "--plot", metavar="FILE.png",
                                        help="Also draw a 2-D projection."),
    color_by: str = typer.Option("label", "--color-by",
                                 help="Colour of the plot's points: label, corpus or "
                                      "generator."),
    method: str = typer.Option("pca", "--method", help="pca, or tsne (needs scikit-learn)."),
    seed: int = typer.Option(0, "--seed", help="Seed of t-SNE."),
    db: Optional[Path] = DbOption,
    run_dir: Optional[Path] = typer.Option(None, "--run-dir",
                                           help="The run's folder, if it moved."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda, ... (default: "
                                                                "the run's)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1),
    skip_unavailable: bool = SkipUnavailableOption,
) -> None:
    """Pooled embeddings (the head's input) of a selection under a run's model."""
    from curate.progress import progress_bar
    from curate.train.embeddings import COLOR_BY, embed_run, plot_embeddings, write_embeddings
    from curate.train.projection import METHODS

    if color_by not in COLOR_BY:
        raise CurateError(f"--color-by must be one of {', '.join(COLOR_BY)}, got {color_by!r}")
    if method not in METHODS:
        raise CurateError(f"--method must be one of {', '.join(METHODS)}, got {method!r}")
    if method == "tsne" and importlib.util.find_spec("sklearn") is None:
        raise CurateError("--method tsne needs scikit-learn; install it (pip install "
                          "scikit-learn) or use --method pca")
    with progress_bar(f"embed {on}") as bar:
        frame = embed_run(catalog_ref(db), run, on, split, run_dir=run_dir, device=device,
                          batch_size=batch_size, skip_unavailable=skip_unavailable,
                          progress=bar)
    path = write_embeddings(frame, out)
    console.print(f"wrote {path}: {len(frame)} utterances x {frame.attrs['embedding_dim']} "
                  f"dimensions", highlight=False)
    if plot is not None:
        figure = plot_embeddings(frame, plot, color_by=color_by, method=method, seed=seed)
        console.print(f"wrote {figure}", highlight=False)
