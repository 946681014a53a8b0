"""Score runs on a suite's sets, reusing what the catalog already holds.

For each run and each prepared set, the set's usable items (status ``ok``) are the
trials; items of the frozen set that are no longer ``ok`` are *skipped* and counted by
status. Scores the catalog already holds for (run, eval set) are reused when they cover
every trial; otherwise the run's model scores the set
(:func:`curate.train.eval_run.evaluate_run`, which stores scores, results, the score
file and the training-overlap restriction like ``curate eval``). The eval set's name is
the one ``curate eval`` gives (``SELECTION:SPLIT``, or the bare split for the run's own
selection), so scores from training or an earlier ``curate eval`` count too.

The catalog is used in short sessions: scoring holds no lock when ``source`` is a
:class:`~curate.catalog.db.CatalogRef`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from curate.benchmark import provenance, sql
from curate.benchmark.sets import NOT_PREPARED, ResolvedSet, known_corpora, resolve_sets
from curate.benchmark.spec import Suite, load_suite
from curate.catalog.db import Catalog, CatalogRef, catalog_session
from curate.errors import CurateError
from curate.select.freeze import unavailable_items
from curate.train.eval_run import evaluate_run
from curate.train.run import eval_set_name, selection_items

__all__ = ["RunInfo", "SetOutcome", "BenchmarkOutcome", "load_suite_for", "run_benchmark"]


@dataclass(frozen=True)
class RunInfo:
    run_id: str
    name: str
    code_version: str | None
    own_selection: str | None  # the selection the run trained on (eval set names)


@dataclass(frozen=True)
class SetOutcome:
    """One run on one prepared set.

    Attributes:
        trials: ``utt_id, label, score`` of every scored trial, sorted by utt_id.
        overlap: the stored training-overlap counts (empty when the run has none).
        provenance: :func:`curate.benchmark.provenance.record`.
        note: why there is no EER (``no usable items``), else empty.
    """

    run_id: str
    set_name: str
    trials: pd.DataFrame
    overlap: dict[str, float]
    provenance: dict
    note: str = ""


@dataclass(frozen=True)
class BenchmarkOutcome:
    suite: Suite
    sets: list[ResolvedSet]
    runs: list[RunInfo]
    outcomes: list[SetOutcome] = field(default_factory=list)
    scored: int = 0  # (run, set) pairs the model scored now; the rest reused scores


def load_suite_for(source: Catalog | CatalogRef, name_or_path: str | Path) -> Suite:
    """A suite (shipped name or file) checked against the recipes and ``source``'s corpora."""
    with catalog_session(source, read_only=isinstance(source, CatalogRef)) as catalog:
        known = known_corpora(catalog)
    return load_suite(name_or_path, known_corpora=known)


def _run_info(catalog: Catalog, run_id: str) -> RunInfo:
    row = catalog.execute(sql.RUN_ROW, [run_id]).fetchone()
    if row is None:
        raise CurateError(f"no run {run_id!r} in {catalog.path}; list runs with "
                          f"`SELECT run_id, status FROM runs`")
    if row[3] != "finished":
        raise CurateError(f"run {run_id} is {row[3]}; benchmark finished runs (finish it "
                          f"with `curate train EXPERIMENT.toml --resume`)")
    config = json.loads(row[2]) if row[2] else {}
    own = config.get("selection") if isinstance(config, dict) else None
    return RunInfo(run_id, row[1], row[4], own if isinstance(own, str) else None)


def _stored(catalog: Catalog, run_id: str, eval_set: str) -> pd.DataFrame:
    return catalog.df(sql.STORED_SCORES, [run_id, eval_set])


def _items(source: Catalog | CatalogRef, rset: ResolvedSet
           ) -> tuple[pd.DataFrame, dict[str, int], list[dict]]:
    """The set's usable items, its skipped items by status, its corpora's recipe facts."""
    with catalog_session(source, read_only=isinstance(source, CatalogRef)) as catalog:
        rows = selection_items(catalog, rset.selection, rset.split, skip_unavailable=True)
        skipped = unavailable_items(catalog, rset.selection, rset.split)
        facts = provenance.corpus_facts(catalog, sorted(set(rows["corpus"]))
                                        if not rows.empty else list(rset.corpora))
    return rows[["utt_id", "label", "corpus"]].reset_index(drop=True), skipped, facts


def _score(source: Catalog | CatalogRef, run: RunInfo, rset: ResolvedSet,
           items: pd.DataFrame, score_set: Callable[..., object]
           ) -> tuple[pd.DataFrame, dict[str, float], bool]:
    """Stored scores of the set's items (scoring them first when the catalog lacks any);
    returns (scores by utt_id, overlap counts, reused)."""
    name = eval_set_name(rset.selection, rset.split, run.own_selection)
    read_only = isinstance(source, CatalogRef)
    with catalog_session(source, read_only=read_only) as catalog:
        stored = _stored(catalog, run.run_id, name)
    wanted = set(items["utt_id"])
    reused = wanted <= set(stored["utt_id"])
    if not reused:
        score_set(source, run.run_id, rset.selection, rset.split or "all",
                  skip_unavailable=True)
    with catalog_session(source, read_only=read_only) as catalog:
        if not reused:
            stored = _stored(catalog, run.run_id, name)
        overlap = {m: float(v) for m, v in catalog.execute(
            sql.OVERLAP_RESULTS, [run.run_id, name]).fetchall() if v is not None and v == v}
    lacking = wanted - set(stored["utt_id"])
    if lacking:
        raise CurateError(f"run {run.run_id} has no score for {len(lacking)} item(s) of "
                          f"benchmark set {rset.name!r} (e.g. {sorted(lacking)[0]}) after "
                          f"scoring eval set {name!r}; score it with `curate eval "
                          f"{run.run_id} --on {rset.selection} --split {rset.split or 'all'}`")
    return stored, overlap, reused


def run_benchmark(source: Catalog | CatalogRef, run_ids: list[str], suite: Suite,
                  out_dir: Path | str, *, strict: bool = False, refreeze: bool = False,
                  device: str | None = None, batch_size: int | None = None,
                  progress: Callable[[str], None] | None = None) -> BenchmarkOutcome:
    """Score every run on every prepared set of ``suite``; write the trial files.

    Args:
        source: the catalog (writable: new sets are frozen into it, new scores stored).
        run_ids: finished runs (``runs.run_id``), in the order given.
        suite: the suite (:func:`load_suite_for`).
        out_dir: trial files go to ``OUT/scores/<run_id>/<set>.tsv``.
        strict: a set that is not prepared is an error instead of a listed row.
        refreeze: freeze a set again whose stored selection came from another query.
        device, batch_size: for scoring (default: each run's own settings).
        progress: called with one line per (run, set).

    Raises:
        CurateError: an unknown or unfinished run; a set not prepared with ``strict``;
            see :func:`curate.benchmark.sets.resolve_sets`.
    """
    if not run_ids:
        raise CurateError("give at least one RUN (a run id, see `SELECT run_id FROM runs`)")
    if len(set(run_ids)) != len(run_ids):
        raise CurateError("a RUN is given twice; give each run once")
    out_dir = Path(out_dir)
    with catalog_session(source) as catalog:
        runs = [_run_info(catalog, run_id) for run_id in run_ids]
        sets = resolve_sets(catalog, suite, refreeze=refreeze)
    absent = [s for s in sets if s.status == NOT_PREPARED]
    if strict and absent:
        raise CurateError(f"--strict: benchmark set {absent[0].name!r} of {suite.source} is "
                          f"not prepared ({absent[0].reason})"
                          + (f"; {len(absent) - 1} more are not" if len(absent) > 1 else ""))

    def score_set(*args, **kwargs):
        return evaluate_run(*args, device=device, batch_size=batch_size, **kwargs)

    outcomes: list[SetOutcome] = []
    scored = 0
    for rset in (s for s in sets if s.ready):
        items, skipped, facts = _items(source, rset)
        for run in runs:
            name = eval_set_name(rset.selection, rset.split, run.own_selection)
            if items.empty:
                stored = pd.DataFrame({"utt_id": pd.Series([], dtype=object),
                                       "score": pd.Series([], dtype="float64")})
                overlap, reused, note = {}, True, "no usable items"
            else:
                stored, overlap, reused = _score(source, run, rset, items, score_set)
                note = ""
            trials = items.merge(stored, on="utt_id", how="inner")[
                list(provenance.TRIAL_COLUMNS)].sort_values("utt_id", kind="stable")
            trials = trials.reset_index(drop=True)
            path = provenance.trials_path(out_dir, run.run_id, rset.name)
            digest = provenance.write_trials(path, trials)
            is_bona = trials["label"] == "bonafide"
            record = provenance.record(
                run_id=run.run_id, code_version=run.code_version, eval_set=name,
                selection=rset.selection, split=rset.split, spec_hash=rset.spec_hash,
                corpora=facts, n_trials=len(trials), n_bonafide=int(is_bona.sum()),
                n_spoof=int((~is_bona).sum()), skipped=skipped,
                score_file=path.relative_to(out_dir).as_posix(), score_sha256=digest,
                scores="none" if note else "reused" if reused else "scored")
            outcomes.append(SetOutcome(run.run_id, rset.name, trials, overlap, record, note))
            scored += 0 if reused else 1
            if progress is not None:
                progress(f"{run.run_id} on {rset.name}: {len(trials)} trials "
                         f"({record['scores']}, {record['n_skipped']} skipped)")
    return BenchmarkOutcome(suite, sets, runs, outcomes, scored)
