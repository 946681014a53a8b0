"""Commands over training runs: train, eval, sharpness, ablate."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.markup import escape

from curate.cli.common import (DbOption, SkipUnavailableOption, app, catalog_ref, console,
                               err_console, table_of)
from curate.errors import CurateError


@app.command("train")
def train(
    experiment: Path = typer.Argument(..., metavar="EXPERIMENT.toml",
                                      help="An experiment file (recipes/experiments/*.toml)."),
    resume: bool = typer.Option(False, "--resume",
                                help="Continue an unfinished run from its last checkpoint."),
    set_: Optional[List[str]] = typer.Option(None, "--set", metavar="KEY=VALUE",
                                             help="Override a key, e.g. --set sam.enabled=true "
                                                  "(repeatable)."),
    db: Optional[Path] = DbOption,
    out: Optional[Path] = typer.Option(None, "--out", help="Run folders go to OUT/runs/RUN_ID "
                                                           "(default: the file's out key)."),
    force: bool = typer.Option(False, "--force", help="Train again even if the run finished."),
    stop_at: Optional[int] = typer.Option(None, "--stop-at", min=1,
                                          help="Stop after this step with a checkpoint "
                                               "(continue later with --resume)."),
    skip_unavailable: bool = SkipUnavailableOption,
) -> None:
    """Train and evaluate an experiment; records the run, scores and results in the catalog.

    The run reads a snapshot of its selections taken at its start and writes to the
    catalog only in short transactions, so other commands work while it trains.
    Under torchrun every rank runs this command; rank 0 owns the catalog.
    """
    from curate.catalog.db import open_catalog
    from curate.progress import progress_bar
    from curate.train import distributed
    from curate.train.experiment import load_experiment
    from curate.train.run import run_experiment

    parsed = load_experiment(experiment, set_ or [])
    spec = parsed.run_spec()
    target = out if out is not None else Path(parsed.out)
    ctx = distributed.init_from_env(parsed.device)
    if not ctx.is_main:
        run_experiment(None, spec, target, resume=resume, force=force, stop_at=stop_at,
                       skip_unavailable=skip_unavailable)
        return
    source = catalog_ref(db)
    with progress_bar(f"train {spec.name}") as bar:
        callback = (lambda step, total, _loss: bar(step, total)) if bar else None
        outcome = run_experiment(source, spec, target, progress=callback, resume=resume,
                                 force=force, stop_at=stop_at,
                                 skip_unavailable=skip_unavailable)
    with open_catalog(source.path, read_only=True) as catalog:
        if outcome.skipped:
            console.print(f"run {outcome.run_id} already finished: its results "
                          "(use --force to train again)", highlight=False)
        if outcome.status == "stopped":
            console.print(f"run {outcome.run_id} stopped at step {outcome.steps}; continue with "
                          f"`curate train {experiment} --resume`", highlight=False)
            return
        from curate.ablate.report import results_table

        console.print(table_of(results_table(catalog, outcome.run_id),
                             title=f"results of run {outcome.run_id}"))
    console.print(f"run folder: {outcome.run_dir}", highlight=False)


@app.command("eval")
def eval_(
    run: str = typer.Argument(..., metavar="RUN", help="A run id (runs.run_id)."),
    on: str = typer.Option(..., "--on", metavar="SELECTION", help="The selection to score."),
    split: str = typer.Option("test", "--split", help="Its split ('all': every split)."),
    db: Optional[Path] = DbOption,
    run_dir: Optional[Path] = typer.Option(None, "--run-dir",
                                           help="The run's folder, if it moved."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu, cuda, ... (default: "
                                                                "the run's)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1),
    skip_unavailable: bool = SkipUnavailableOption,
    bootstrap: int = typer.Option(0, "--bootstrap", min=0, metavar="N",
                                  help="Store 95 % bootstrap intervals of EER and minDCF "
                                       "over N resamples (0: none)."),
    by_speaker: bool = typer.Option(False, "--by-speaker",
                                    help="With --bootstrap: resample whole speakers."),
    degrade: Optional[Path] = typer.Option(None, "--degrade", metavar="GRID.toml",
                                           help="Also score under each condition of a "
                                                "degrade grid (e.g. recipes/degrade/"
                                                "grid.toml): EER per condition."),
) -> None:
    """Score a selection with a run's model: scores, results per group, a score file."""
    from curate.train.eval_run import evaluate_run

    if by_speaker and not bootstrap:
        raise CurateError("--by-speaker only applies to --bootstrap N; add --bootstrap 1000 "
                          "or leave --by-speaker out")
    if degrade is not None:
        _eval_degraded(run, on, split, degrade, db, run_dir=run_dir, device=device,
                       batch_size=batch_size, skip_unavailable=skip_unavailable,
                       bootstrap=bootstrap, by_speaker=by_speaker)
        return
    results = evaluate_run(catalog_ref(db), run, on, split, run_dir=run_dir, device=device,
                           batch_size=batch_size, skip_unavailable=skip_unavailable,
                           bootstrap=bootstrap, by_speaker=by_speaker)
    wide = results.pivot_table(index=["eval_set", "eval_group"], columns="metric",
                               values="value", sort=False).reset_index()
    console.print(table_of(wide, title=f"run {run} on {on}"))


def _eval_degraded(run: str, on: str, split: str, grid: Path, db: Optional[Path],
                   **options) -> None:
    """``curate eval --degrade``: one progress bar per condition, then the EER table."""
    import contextlib

    from curate.progress import progress_bar
    from curate.train.degrade import evaluate_degraded

    with contextlib.ExitStack() as stack:
        bars: dict = {}  # condition -> its progress callback

        def progress(condition: str, done: int, total: int) -> None:
            if condition not in bars:
                stack.close()
                bars.clear()
                bars[condition] = stack.enter_context(progress_bar(f"condition {condition}"))
            bars[condition](done, total)

        outcome = evaluate_degraded(catalog_ref(db), run, on, split, grid, progress=progress,
                                    **options)
    console.print(table_of(outcome.table, title=f"run {run} on {outcome.eval_set}: EER "
                                                f"per condition ({grid.name})"))
    folder = outcome.plot.parent if outcome.plot else None
    if folder is not None:
        console.print(f"plot: {outcome.plot}; condition score files in {folder}",
                      highlight=False)


@app.command("sharpness")
def sharpness(
    run: Optional[str] = typer.Argument(None, metavar="[RUN]", help="A run id."),
    on: Optional[str] = typer.Option(None, "--on", metavar="SELECTION",
                                     help="The selection to measure on."),
    split: str = typer.Option("test", "--split", help="Its split ('all': every split)."),
    rho: float = typer.Option(0.05, "--rho", help="Perturbation radius."),
    m: int = typer.Option(32, "--m", min=1, help="Utterances per mini-batch."),
    batches: int = typer.Option(20, "--batches", min=0, help="Mini-batches (0: all)."),
    adaptive: bool = typer.Option(False, "--adaptive", help="ASAM perturbation |w|-scaled."),
    seed: int = typer.Option(0, "--seed", help="Seed of the batches."),
    correlate_: bool = typer.Option(False, "--correlate",
                                    help="Correlate stored sharpness with EER across runs "
                                         "and eval sets instead."),
    group: str = typer.Option("all", "--group", help="With --correlate: the eval group "
                                                     "('any': every group)."),
    db: Optional[Path] = DbOption,
    run_dir: Optional[Path] = typer.Option(None, "--run-dir", help="The run's folder, if it "
                                                                   "moved."),
    device: Optional[str] = typer.Option(None, "--device"),
    skip_unavailable: bool = SkipUnavailableOption,
) -> None:
    """m-sharpness of a run's model per eval group, or its correlation with EER."""
    from curate.catalog.db import open_catalog
    from curate.train.sharpness import correlate, sharpness_run

    if correlate_:
        with open_catalog(db, read_only=True) as catalog:
            frame = correlate(catalog, group=None if group == "any" else group, by_set=True)
        console.print(table_of(frame, title=f"sharpness vs EER (group {group})"))
        return
    if run is None or on is None:
        raise CurateError("give RUN --on SELECTION, or --correlate (usage: curate sharpness "
                          "RUN --on SELECTION [--split test] [--rho 0.05] [--m 32])")
    table = sharpness_run(catalog_ref(db), run, on, split, rho=rho, m=m,
                          batches=batches or None, adaptive=adaptive, seed=seed,
                          run_dir=run_dir, device=device, skip_unavailable=skip_unavailable)
    wide = table.pivot_table(index=["eval_set", "eval_group"], columns="metric",
                             values="value", sort=False).reset_index()
    console.print(table_of(wide, title=f"m-sharpness of run {run} on {on}"))


@app.command()
def ablate(
    ablation: Path = typer.Argument(..., metavar="ABLATION.toml", help="An ablation file."),
    db: Optional[Path] = DbOption,
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Runs in parallel processes."),
    out: Optional[Path] = typer.Option(None, "--out", help="Runs go to OUT/runs, the report "
                                                           "to OUT/report (default: the "
                                                           "ablation file's folder)."),
    report_only: bool = typer.Option(False, "--report-only",
                                      help="Only (re)write the report from the catalog."),
    dry_run: bool = typer.Option(False, "--dry-run",
                                 help="List the runs and the data each sees; train nothing."),
    skip_unavailable: bool = SkipUnavailableOption,
) -> None:
    """Run an ablation grid (skipping finished runs) and write its report."""
    from curate.ablate.ablation_report import write_ablation_report
    from curate.ablate.runner import data_summary, plan_ablation, run_ablation
    from curate.ablate.spec import load_ablation
    from curate.catalog.db import open_catalog

    spec = load_ablation(ablation)
    out_dir = out or ablation.resolve().parent
    if dry_run:
        with open_catalog(db, read_only=True) as catalog:
            planned = plan_ablation(catalog, spec)
            data = data_summary(catalog, planned)
        import pandas as pd

        runs = pd.DataFrame([{**dict(p.run.levels), "repeat": p.run.repeat,
                              "seed": p.run.seed, "run_id": p.run_id,
                              "status": p.status or "new"} for p in planned])
        console.print(table_of(runs, title=f"ablation {spec.name}: {len(runs)} runs"))
        console.print(table_of(data, title="data the runs read"))
        return
    failed = []
    source = catalog_ref(db)
    if not report_only:
        outcome = run_ablation(source, spec, out_dir, jobs=jobs,
                               say=lambda m: console.print(m, highlight=False),
                               skip_unavailable=skip_unavailable)
        console.print(f"{spec.name}: {outcome.planned} runs, {outcome.skipped} finished "
                      f"earlier, {outcome.finished} finished now, {len(outcome.failed)} "
                      f"failed", highlight=False)
        failed = outcome.failed
    with source.session(read_only=True) as catalog:
        report = write_ablation_report(catalog, spec.name, out_dir / "report")
    console.print(f"report: {report} (and report.html)", highlight=False)
    for run_id, reason in failed:
        err_console.print(f"failed: {run_id}: {escape(reason)}", highlight=False)
    if failed:
        raise typer.Exit(1)
