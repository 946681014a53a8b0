"""Running an ablation: plan the grid, skip finished runs, run the rest, record them.

Each planned run is the base experiment with its cell's overrides and seed, named
after the ablation; its run id is the experiment's content hash, so a run that
finished in an earlier invocation (or in another ablation with the same config) is
found and skipped. Unfinished runs continue from their last checkpoint. Every run is
scored on all its eval sets and its m-sharpness measured there; the results go to
the catalog.

The catalog is never held for the length of a run: planning, recording and each
run's own writes (see :mod:`curate.train.run`) are short sessions on a
:class:`~curate.catalog.db.CatalogRef`, so other commands work while an ablation
runs. With ``jobs > 1`` runs execute in parallel processes that open the same
catalog for their short sessions (a session that finds it busy waits, see
``$CURATE_DB_WAIT``).
"""

from __future__ import annotations

import json
import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

from curate.ablate import sql
from curate.ablate.grid import PlannedRun, apply_overrides, expand
from curate.ablate.spec import AblationSpec
from curate.catalog.db import Catalog, CatalogRef, catalog_session
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


def _sharpness(source: Catalog | CatalogRef, item: PlannedExperiment, out_dir: Path,
               options: dict, skip_unavailable: bool = False) -> None:
    from curate.train.sharpness import sharpness_run

    run_dir = out_dir / "runs" / item.run_id
    for selection, split, _name in item.spec.eval_refs():
        sharpness_run(source, item.run_id, selection, split, rho=options["rho"],
                      m=options["m"], batches=options["batches"],
                      adaptive=options["adaptive"], seed=item.experiment.seed,
                      run_dir=run_dir, skip_unavailable=skip_unavailable)


def execute(source: Catalog | CatalogRef, item: PlannedExperiment, out_dir: Path,
            options: dict, progress=None, skip_unavailable: bool = False) -> str:
    """Train, score and measure one planned run; returns its run id."""
    from curate.train.run import run_experiment

    outcome = run_experiment(source, item.spec, out_dir, resume=True, progress=progress,
                             skip_unavailable=skip_unavailable)
    if outcome.status != "finished":
        raise CurateError(f"run {item.run_id} stopped at step {outcome.steps}")
    if options["enabled"]:
        _sharpness(source, item, out_dir, options, skip_unavailable)
    return outcome.run_id


def _worker(db: str, data: dict, where: str, base_dir: str, out_dir: str, options: dict,
            levels: tuple, repeat: int, seed, cell: str, skip_unavailable: bool) -> str:
    """One run in a worker process, on short sessions of the catalog at ``db``."""
    experiment = parse_experiment(data, where, Path(base_dir))
    source = CatalogRef(Path(db))
    spec = experiment.run_spec()
    with source.session(read_only=True) as catalog:
        run_id = run_id_of(catalog, spec)
    item = PlannedExperiment(PlannedRun(cell, levels, repeat, seed, ()), experiment, spec,
                             run_id, None)
    return execute(source, item, Path(out_dir), options, skip_unavailable=skip_unavailable)


def run_ablation(source: Catalog | CatalogRef, spec: AblationSpec, out_dir: Path | str, *,
                 jobs: int = 1, say: Say = print,
                 skip_unavailable: bool = False) -> AblationOutcome:
    """Run every unfinished run of ``spec``; record the grid; report failures.

    Args:
        source: the catalog: a :class:`CatalogRef` (opened for short sessions only;
            required with ``jobs > 1``) or an open :class:`Catalog`.
        jobs: runs in parallel processes.
        skip_unavailable: runs leave out selection items that are no longer ``ok``
            instead of failing (each run records how many).
    """
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    if jobs > 1 and not isinstance(source, CatalogRef):
        raise ValueError("jobs > 1 needs the catalog as a CatalogRef (its path), so that "
                         "worker processes can open it; pass CatalogRef(path)")
    out_dir = Path(out_dir)
    options = dict(spec.sharpness)
    with catalog_session(source) as catalog:
        catalog.execute(sql.UPSERT_ABLATION, [spec.name, spec.text, spec.spec_hash])
        planned = plan_ablation(catalog, spec)
        for item in planned:
            _record(catalog, spec, item)
    todo = []
    for item in planned:
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
                execute(source, item, out_dir, options, skip_unavailable=skip_unavailable)
                finished += 1
            except Exception as exc:  # one failed run must not stop the grid
                failed.append((item.run_id, f"{type(exc).__name__}: {exc}"))
                say(f"    failed: {item.run_id}: {exc}")
    else:
        finished = _run_parallel(source, spec, todo, out_dir, options, jobs, failed, say,
                                 skip_unavailable)
    return AblationOutcome(spec.name, len(planned), len(planned) - len(todo), finished, failed)


def _run_parallel(source: CatalogRef, spec: AblationSpec, todo: list[PlannedExperiment],
                  out_dir: Path, options: dict, jobs: int, failed: list, say: Say,
                  skip_unavailable: bool) -> int:
    finished = 0
    futures = {}
    with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn")) as pool:
        for item in todo:
            data = apply_overrides(spec.base, item.run.overrides)
            data["name"] = spec.name
            future = pool.submit(_worker, str(source.path), data, item.experiment.source,
                                 str(spec.base_dir), str(out_dir), options, item.run.levels,
                                 item.run.repeat, item.run.seed, item.run.cell,
                                 skip_unavailable)
            futures[future] = item
        say(f"    {len(todo)} runs in {jobs} parallel processes")
        for future in as_completed(futures):
            item = futures[future]
            try:
                future.result()
                finished += 1
                say(f"    done: {item.run.cell} repeat {item.run.repeat} ({item.run_id})")
            except Exception as exc:
                failed.append((item.run_id, f"{type(exc).__name__}: {exc}"))
                say(f"    failed: {item.run_id}: {exc}")
    return finished
