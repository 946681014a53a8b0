"""Running an ablation: plan the grid, skip finished runs, run the rest, record them.

Each planned run is the base experiment with its cell's overrides and seed, named
after the ablation; its run id is the experiment's content hash, so a run that
finished in an earlier invocation (or in another ablation with the same config) is
found and skipped. Unfinished runs continue from their last checkpoint. Every run is
scored on all its eval sets and its m-sharpness measured there; the results go to
the catalog.

With ``jobs > 1`` runs execute in parallel processes. The catalog has one writer, so
each worker gets a scratch catalog holding only what its run reads (the selections'
items and utterances); the main process copies the run's rows back when it ends.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import tempfile
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

from curate.ablate import sql
from curate.ablate.grid import PlannedRun, apply_overrides, expand
from curate.ablate.spec import AblationSpec
from curate.catalog.db import Catalog, open_catalog
from curate.errors import CurateError
from curate.train.experiment import Experiment, parse_experiment
from curate.train.run import RunSpec, run_id_of

Say = Callable[[str], None]


@dataclass(frozen=True)
class PlannedExperiment:
    run: PlannedRun
    experiment: Experiment
    spec: RunSpec
    run_id: str
    status: str | None  # the run's status in the catalog, None when never started


@dataclass(frozen=True)
class AblationOutcome:
    name: str
    planned: int
    skipped: int  # already finished
    finished: int  # finished in this invocation
    failed: list[tuple[str, str]]  # (run_id, reason)


def plan_ablation(catalog: Catalog, spec: AblationSpec) -> list[PlannedExperiment]:
    """Every run of the ablation with its experiment, run id and current status."""
    planned = []
    for run in expand(spec):
        data = apply_overrides(spec.base, run.overrides)
        data["name"] = spec.name
        where = f"{spec.name} [{run.cell}, repeat {run.repeat}]"
        experiment = parse_experiment(data, where, spec.base_dir)
        run_spec = experiment.run_spec()
        run_id = run_id_of(catalog, run_spec)
        row = catalog.execute("SELECT status FROM runs WHERE run_id = ?", [run_id]).fetchone()
        planned.append(PlannedExperiment(run, experiment, run_spec, run_id,
                                         row[0] if row else None))
    return planned


def data_summary(catalog: Catalog, planned: list[PlannedExperiment]) -> pd.DataFrame:
    """Hours and utterances per split of every selection the runs read (for --dry-run)."""
    frames = []
    for name in sorted({s for p in planned for s in p.spec.selections()}):
        table = catalog.df(
            "SELECT i.split, count(*) AS utterances, round(sum(u.duration_s) / 3600.0, 4) "
            "AS hours FROM selection_items i JOIN utterances u USING (utt_id) "
            "WHERE i.selection = ? GROUP BY ALL ORDER BY 1", [name])
        frames.append(table.assign(selection=name))
    if not frames:
        return pd.DataFrame(columns=["selection", "split", "utterances", "hours"])
    return pd.concat(frames)[["selection", "split", "utterances", "hours"]]


def _record(catalog: Catalog, spec: AblationSpec, item: PlannedExperiment) -> None:
    with catalog.transaction() as con:
        con.execute(sql.DELETE_ABLATION_RUN, [spec.name, item.run.cell, item.run.repeat])
        con.execute(sql.INSERT_ABLATION_RUN, [spec.name, item.run_id, item.run.cell,
                                              json.dumps(dict(item.run.levels)),
                                              item.run.repeat, item.run.seed])


def _sharpness(catalog: Catalog, item: PlannedExperiment, out_dir: Path,
               options: dict) -> None:
    from curate.train.sharpness import sharpness_run

    run_dir = out_dir / "runs" / item.run_id
    for selection, split, _name in item.spec.eval_refs():
        sharpness_run(catalog, item.run_id, selection, split, rho=options["rho"],
                      m=options["m"], batches=options["batches"],
                      adaptive=options["adaptive"], seed=item.experiment.seed,
                      run_dir=run_dir)


def execute(catalog: Catalog, item: PlannedExperiment, out_dir: Path, options: dict,
            progress=None) -> str:
    """Train, score and measure one planned run in ``catalog``; returns its run id."""
    from curate.train.run import run_experiment

    outcome = run_experiment(catalog, item.spec, out_dir, resume=True, progress=progress)
    if outcome.status != "finished":
        raise CurateError(f"run {item.run_id} stopped at step {outcome.steps}")
    if options["enabled"]:
        _sharpness(catalog, item, out_dir, options)
    return outcome.run_id


# --- parallel runs through scratch catalogs -----------------------------------------

_RUN_TABLES = ("runs", "scores", "results", "augment_log")


def _quote(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def make_scratch(catalog: Catalog, path: Path, selections: list[str]) -> None:
    """A catalog at ``path`` with the corpora, and only the named selections' rows."""
    open_catalog(path).close()  # the schema
    con = catalog.con
    con.execute(f"ATTACH {_quote(path)} AS scratch")
    try:
        con.execute("INSERT INTO scratch.corpora SELECT * FROM corpora")
        con.execute("INSERT INTO scratch.selections SELECT * FROM selections "
                    "WHERE list_contains(?, name)", [selections])
        con.execute("INSERT INTO scratch.selection_items SELECT * FROM selection_items "
                    "WHERE list_contains(?, selection)", [selections])
        con.execute("INSERT INTO scratch.utterances SELECT u.* FROM utterances u WHERE utt_id "
                    "IN (SELECT utt_id FROM selection_items WHERE list_contains(?, selection))",
                    [selections])
    finally:
        con.execute("DETACH scratch")


def merge_scratch(catalog: Catalog, path: Path, run_id: str) -> None:
    """Copy one run's rows from a scratch catalog into ``catalog`` (replacing them)."""
    con = catalog.con
    con.execute(f"ATTACH {_quote(path)} AS scratch (READ_ONLY)")
    try:
        with catalog.transaction():
            for table in _RUN_TABLES:
                con.execute(f"DELETE FROM {table} WHERE run_id = ?", [run_id])
                con.execute(f"INSERT INTO {table} SELECT * FROM scratch.{table} "
                            f"WHERE run_id = ?", [run_id])
    finally:
        con.execute("DETACH scratch")


def _worker(scratch: str, data: dict, where: str, base_dir: str, out_dir: str,
            options: dict, levels: tuple, repeat: int, seed, cell: str) -> str:
    experiment = parse_experiment(data, where, Path(base_dir))
    with open_catalog(scratch) as catalog:
        spec = experiment.run_spec()
        item = PlannedExperiment(PlannedRun(cell, levels, repeat, seed, ()), experiment, spec,
                                 run_id_of(catalog, spec), None)
        return execute(catalog, item, Path(out_dir), options)


def run_ablation(catalog: Catalog, spec: AblationSpec, out_dir: Path | str, *, jobs: int = 1,
                 say: Say = print) -> AblationOutcome:
    """Run every unfinished run of ``spec``; record the grid; report failures."""
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    out_dir = Path(out_dir)
    options = dict(spec.sharpness)
    catalog.execute(sql.UPSERT_ABLATION, [spec.name, spec.text, spec.spec_hash])
    planned = plan_ablation(catalog, spec)
    todo = []
    for item in planned:
        _record(catalog, spec, item)
        if item.status == "finished":
            say(f"    {item.run.cell} repeat {item.run.repeat}: finished earlier ({item.run_id})")
        else:
            todo.append(item)
    failed: list[tuple[str, str]] = []
    finished = 0
    if jobs == 1 or len(todo) < 2:
        for k, item in enumerate(todo, start=1):
            say(f"    [{k}/{len(todo)}] {item.run.cell} repeat {item.run.repeat}: "
                f"training {item.run_id}")
            try:
                execute(catalog, item, out_dir, options)
                finished += 1
            except Exception as exc:  # one failed run must not stop the grid
                failed.append((item.run_id, f"{type(exc).__name__}: {exc}"))
                say(f"    failed: {item.run_id}: {exc}")
    else:
        finished = _run_parallel(catalog, spec, todo, out_dir, options, jobs, failed, say)
    return AblationOutcome(spec.name, len(planned), len(planned) - len(todo), finished, failed)


def _run_parallel(catalog: Catalog, spec: AblationSpec, todo: list[PlannedExperiment],
                  out_dir: Path, options: dict, jobs: int, failed: list, say: Say) -> int:
    finished = 0
    with tempfile.TemporaryDirectory(prefix="curate-ablate-") as tmp:
        futures = {}
        with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn")) as pool:
            for k, item in enumerate(todo):
                scratch = Path(tmp) / f"run{k}.duckdb"
                make_scratch(catalog, scratch, item.spec.selections())
                data = apply_overrides(spec.base, item.run.overrides)
                data["name"] = spec.name
                future = pool.submit(_worker, str(scratch), data, item.experiment.source,
                                     str(spec.base_dir), str(out_dir), options,
                                     item.run.levels, item.run.repeat, item.run.seed,
                                     item.run.cell)
                futures[future] = (item, scratch)
            say(f"    {len(todo)} runs in {jobs} parallel processes")
            for future in as_completed(futures):
                item, scratch = futures[future]
                try:
                    future.result()
                    merge_scratch(catalog, scratch, item.run_id)
                    finished += 1
                    say(f"    done: {item.run.cell} repeat {item.run.repeat} ({item.run_id})")
                except Exception as exc:
                    merge_scratch(catalog, scratch, item.run_id)  # keep the failed status
                    failed.append((item.run_id, f"{type(exc).__name__}: {exc}"))
                    say(f"    failed: {item.run_id}: {exc}")
    return finished
