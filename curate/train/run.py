"""A training run against the catalog: selections in, runs/scores/results out.

``run_id`` is ``NAME-<hash of the config and data>``: running the same
experiment again finds the finished run and skips it, so a re-run is cheap; an
interrupted run continues from its last checkpoint with ``resume=True`` (a plain
re-run of an unfinished run with a checkpoint refuses instead of starting over).

A run never holds the catalog while it trains: at its start the main process reads
what the run needs in one short session and writes it to ``RUN_DIR/data/`` (see
:mod:`curate.train.snapshot`); every rank and every resume reads that snapshot.
The catalog is written only in short transactions (the run row, each eval set's
scores and results, the augmentation log per epoch), so other commands (``stats``,
``select``, ``prepare`` of another corpus, ...) work while a run trains. Items of a
selection that are no longer ``ok`` stop the run at its start unless
``skip_unavailable``; the run then records how many it left out.

Data references: a bare name in ``train_split`` / ``dev_split`` / ``eval_splits`` is a
split of ``selection``; ``"SELECTION:SPLIT"`` names another selection's split; an
``extra_eval`` entry without a colon is a whole selection. Eval sets are named by the
bare split, ``SELECTION:SPLIT`` or ``SELECTION``.

Shards: with ``config.shards`` (``data.shards``) the run streams its train split from
the shards of ``curate shard`` (they must hold that split of the train selection as
frozen now; the run's stored config records their manifest under ``shards``), and
scores the eval sets those shards hold from them; dev and other eval sets come from
the snapshot's files.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pandas as pd

import curate
from curate.catalog.db import Catalog, CatalogRef, catalog_session
from curate.errors import CurateError
from curate.select.check import closest_first
from curate.select.freeze import selection_rows, unavailable_items
from curate.train import distributed as ddp
from curate.train import snapshot, sql
from curate.train.data import TrainData
from curate.train.evaluate import group_results, score_file_stem, write_score_file
from curate.train.loop import TrainConfig, save_checkpoint, train
from curate.train.overlap import overlap_counts
from curate.train.row_scoring import scores_of, shard_eval_splits, shard_scores

__all__ = ["RunSpec", "RunOutcome", "code_version", "run_id_for", "run_id_of", "run_results",
           "run_experiment", "parse_ref", "eval_set_name", "check_split", "selection_items",
           "store_eval_set"]


@dataclass(frozen=True)
class RunSpec:
    """What a run trains on and is evaluated on.

    Attributes:
        name: experiment name (the run id adds a content hash).
        selection: the main selection.
        train_split: the training split (or ``"SELECTION:SPLIT"``).
        eval_splits: eval sets scored at the end (splits or ``"SELECTION:SPLIT"``).
        config: the training settings.
        dev_split: dev set for ``eval_every`` / best checkpoints (None: none).
        extra_eval: more eval sets: ``"SELECTION:SPLIT"`` or a whole ``"SELECTION"``.
    """

    name: str
    selection: str
    train_split: str = "train"
    eval_splits: tuple[str, ...] = ("test",)
    config: TrainConfig = field(default_factory=TrainConfig)
    dev_split: str | None = None
    extra_eval: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"name": self.name, "selection": self.selection,
                "train_split": self.train_split, "eval_splits": list(self.eval_splits),
                "dev_split": self.dev_split, "extra_eval": list(self.extra_eval),
                "train": self.config.to_dict()}

    def eval_refs(self) -> list[tuple[str, str | None, str]]:
        """``(selection, split or None, eval set name)`` of every eval set, deduplicated."""
        out: dict[str, tuple[str, str | None, str]] = {}
        for ref in self.eval_splits:
            sel, split = parse_ref(ref, self.selection)
            name = eval_set_name(sel, split, self.selection)
            out.setdefault(name, (sel, split, name))
        for ref in self.extra_eval:
            sel, split = parse_ref(ref, None)
            name = eval_set_name(sel, split, self.selection)
            out.setdefault(name, (sel, split, name))
        return list(out.values())

    def selections(self) -> list[str]:
        """Every selection the run reads."""
        names = {self.selection, parse_ref(self.train_split, self.selection)[0]}
        if self.dev_split:
            names.add(parse_ref(self.dev_split, self.selection)[0])
        names.update(sel for sel, _, _ in self.eval_refs())
        return sorted(names)


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    skipped: bool
    results: pd.DataFrame  # eval_set, eval_group, metric, value
    checkpoint: Path | None
    status: str = "finished"
    run_dir: Path | None = None
    steps: int = 0


def parse_ref(ref: str, default_selection: str | None) -> tuple[str, str | None]:
    """``"SPLIT"`` -> (default, SPLIT); ``"SEL:SPLIT"`` -> (SEL, SPLIT); with no default,
    ``"SEL"`` -> (SEL, None), a whole selection."""
    ref = str(ref).strip()
    if ":" in ref:
        sel, split = ref.split(":", 1)
        if not sel or not split:
            raise CurateError(f"data reference {ref!r} must be SPLIT or SELECTION:SPLIT")
        return sel, split
    if default_selection is None:
        return ref, None
    return default_selection, ref


def eval_set_name(selection: str, split: str | None, own_selection: str | None) -> str:
    if split is None:
        return selection
    return split if selection == own_selection else f"{selection}:{split}"


def code_version() -> str:
    """The package version plus the git commit when running from a checkout."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=5, cwd=Path(curate.__file__).parent)
        suffix = f"+{commit.stdout.strip()}" if commit.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        suffix = ""
    return curate.__version__ + suffix


def _file_hash(path: str | None) -> str | None:
    if not path:
        return None
    try:
        return hashlib.blake2b(Path(path).read_bytes(), digest_size=8).hexdigest()
    except OSError:
        return None


def run_id_for(spec: RunSpec, selection_hash: str | dict[str, str]) -> str:
    """``NAME-hash``: of the spec, the selections' spec hashes and the chain file's text."""
    blob = json.dumps({"spec": dict(spec.to_dict(), train=spec.config.identity()),
                       "selection": selection_hash,
                       "augment": _file_hash(spec.config.augment)}, sort_keys=True)
    return f"{spec.name}-{hashlib.blake2b(blob.encode(), digest_size=5).hexdigest()}"


def _selection_hash(catalog: Catalog, name: str) -> str:
    row = catalog.execute(sql.SELECTION_HASH, [name]).fetchone()
    if row is None:
        raise CurateError(f"no selection named {name!r}; freeze it with `curate select`")
    return row[0]


def _hashes(catalog: Catalog, spec: RunSpec) -> str | dict[str, str]:
    names = spec.selections()
    if names == [spec.selection]:
        return _selection_hash(catalog, spec.selection)  # the first cut's run ids stay
    return {name: _selection_hash(catalog, name) for name in names}


def run_id_of(catalog: Catalog, spec: RunSpec) -> str:
    """The run id ``spec`` gets against ``catalog`` (its selections' spec hashes)."""
    return run_id_for(spec, _hashes(catalog, spec))


def run_results(catalog: Catalog, run_id: str) -> pd.DataFrame:
    return catalog.df(sql.RUN_RESULTS, [run_id])


def check_split(catalog: Catalog, selection: str, split: str | None, key: str) -> None:
    """A data reference must name a split the selection has (a typo is an error, not an
    empty eval set); the message lists the splits that exist, closest first."""
    if split is None:
        return
    if catalog.execute(sql.SELECTION_HASH, [selection]).fetchone() is None:
        raise CurateError(f"{key}: no selection named {selection!r}; freeze it with "
                          f"`curate select SPEC.toml` (see `curate selections`)")
    splits = [r[0] for r in catalog.execute(sql.SELECTION_SPLITS, [selection]).fetchall()]
    if split not in splits:
        shown, _ = closest_first([split], splits)
        raise CurateError(f"{key}: selection {selection!r} has no split {split!r}; its splits "
                          f"are (closest first) {', '.join(shown)}")


def selection_items(catalog: Catalog, selection: str, split: str | None, *,
          skip_unavailable: bool = False) -> pd.DataFrame:
    rows = selection_rows(catalog, selection, split, skip_unavailable=skip_unavailable)
    codecs = catalog.df(sql.SELECTION_CODECS, [selection, split, split])
    if codecs["codec"].notna().any():
        rows = rows.merge(codecs, on="utt_id", how="left")
    return rows


def store_eval_set(source: Catalog | CatalogRef, run_id: str, eval_set: str,
                    scored: pd.DataFrame, run_dir: Path | None,
                    train_ids: list[str] | None = None) -> pd.DataFrame:
    """Replace one eval set's scores and results (sharpness kept), in one short
    transaction; write its score file. With ``train_ids`` (the run's training items) the
    eval set's training-overlap restriction is stored too (:mod:`curate.train.overlap`)."""
    results = group_results(scored).assign(run_id=run_id, eval_set=eval_set)
    with catalog_session(source) as catalog, catalog.transaction() as con:
        if train_ids is not None:
            counts = overlap_counts(catalog, train_ids, scored["utt_id"].tolist())
            results = pd.concat([results, pd.DataFrame(
                {"eval_group": "all", "metric": list(counts), "value": list(counts.values()),
                 "run_id": run_id, "eval_set": eval_set})], ignore_index=True)
        con.execute(sql.DELETE_EVAL_SET_SCORES, [run_id, eval_set])
        con.execute(sql.DELETE_EVAL_SET_RESULTS, [run_id, eval_set])
        table = scored[["utt_id", "score"]].assign(run_id=run_id, eval_set=eval_set)
        con.register("_scores", table)
        con.execute(sql.INSERT_SCORES)
        con.unregister("_scores")
        con.register("_results", results)
        con.execute(sql.INSERT_RESULTS)
        con.unregister("_results")
    if run_dir is not None:
        write_score_file(run_dir / "scores" / f"{score_file_stem(eval_set)}.tsv",
                         scored["utt_id"].tolist(), scored["score"].to_numpy())
    return results


def _checkpoint_step(path: Path) -> int | str:
    try:
        from curate.train.loop import read_checkpoint

        return int(read_checkpoint(path)["step"])
    except (CurateError, KeyError, ValueError):
        return "?"


def _data_refs(spec: RunSpec) -> list[tuple[str, str, str | None, str]]:
    """``(set name, selection, split, key)`` of the run's train, dev and eval sets."""
    refs = [("train", *parse_ref(spec.train_split, spec.selection), "train split")]
    if spec.dev_split:
        refs.append(("dev", *parse_ref(spec.dev_split, spec.selection), "dev split"))
    refs += [(f"eval:{name}", sel, split, "eval set")
             for sel, split, name in spec.eval_refs()]
    return refs


def _take_snapshot(catalog: Catalog, spec: RunSpec, folder: Path,
                   skip_unavailable: bool) -> dict[str, int]:
    """Check every data reference and write the run's snapshot; returns the items left
    out as unavailable per set (empty when none)."""
    refs = _data_refs(spec)
    for name, sel, split, key in refs:
        check_split(catalog, sel, split, f"{spec.name}: {key} {name.removeprefix('eval:')!r}")
    sets = []
    for name, sel, split, _ in refs:
        left_out = sum(unavailable_items(catalog, sel, split).values())
        rows = selection_items(catalog, sel, split, skip_unavailable=skip_unavailable)
        sets.append((snapshot.SnapshotSet(name, sel, split, len(rows), left_out), rows))
    train_rows = sets[0][1]
    if train_rows.empty:
        raise CurateError(f"selection {refs[0][1]!r} has no usable {refs[0][2]!r} items")
    if spec.dev_split and sets[1][1].empty:
        raise CurateError(f"dev set {spec.dev_split!r} of selection {spec.selection!r} has no "
                          "usable items; set dev to another split or leave it out")
    hashes = {sel: _selection_hash(catalog, sel) for sel in spec.selections()}
    snapshot.write_snapshot(folder, sets, _roots(catalog), hashes)
    return snapshot.unavailable_counts(folder)


def _roots(catalog: Catalog) -> dict[str, str]:
    return {name: root for name, root in catalog.execute(sql.CORPUS_ROOTS).fetchall()}


def _shards_manifest(catalog: Catalog, spec: RunSpec) -> dict[str, Any]:
    """A run on shards (``data.shards``): they must hold its train split of its train
    selection as frozen now. Returns what the run records of them (location,
    selection, spec hash, shard counts)."""
    from curate.shard.index import load_folder

    location = spec.config.shards
    folder = load_folder(location)
    selection, split = parse_ref(spec.train_split, spec.selection)
    if folder.selection != selection:
        raise CurateError(f"{spec.name}: data.shards {location} holds selection "
                          f"{folder.selection!r}, not the train selection {selection!r}; "
                          f"write its shards with `curate shard {selection} --out DIR`")
    current = _selection_hash(catalog, selection)
    if folder.spec_hash != current:
        raise CurateError(f"{spec.name}: data.shards {location} was written from another "
                          f"freeze of selection {selection!r} (spec hash "
                          f"{folder.spec_hash[:12]}, now {current[:12]}); write its shards "
                          f"again with `curate shard {selection} --out NEW_DIR`")
    if split not in folder.manifest["splits"]:
        raise CurateError(f"{spec.name}: data.shards {location} holds no split {split!r} "
                          f"of {selection!r} (it holds {', '.join(folder.splits())}); "
                          f"write it with `curate shard {selection} --split {split}`")
    return folder.summary()


def _prepare(source: Catalog | CatalogRef, spec: RunSpec, out_dir: Path, force: bool,
             resume: bool, skip_unavailable: bool) -> dict[str, Any]:
    """Main process, one short catalog session: the run's id and state, its snapshot."""
    with catalog_session(source) as catalog:
        run_id = run_id_of(catalog, spec)
        run_dir = out_dir / "runs" / run_id
        status = catalog.execute(sql.RUN_STATUS, [run_id]).fetchone()
        plan: dict[str, Any] = {"run_id": run_id, "run_dir": str(run_dir), "skipped": False}
        if status is not None and status[0] == "finished" and not force:
            plan["skipped"] = True
            return plan
        checkpoint = run_dir / "checkpoints" / "last.pt"
        if status is not None and checkpoint.is_file() and not resume and not force:
            raise CurateError(f"run {run_id} stopped at step {_checkpoint_step(checkpoint)}; "
                              f"add --resume to continue or --force to start again")
        continuing = bool(resume and status is not None and checkpoint.is_file() and not force)
        data_dir = run_dir / "data"
        shards = _shards_manifest(catalog, spec) if spec.config.shards else None
        if continuing and snapshot.has_snapshot(data_dir):
            snapshot.write_roots(data_dir, _roots(catalog))  # the data stays the start's
            left_out = snapshot.unavailable_counts(data_dir)
        else:
            left_out = _take_snapshot(catalog, spec, data_dir, skip_unavailable)
        stored = dict(spec.to_dict(), run_dir=str(run_dir), unavailable_skipped=left_out)
        if shards is not None:  # the catalog records which shards the run saw
            stored["shards"] = shards
        with catalog.transaction() as con:
            if continuing:
                con.execute(sql.RESTART_RUN, [run_id])
            else:
                con.execute(sql.DELETE_RUN, [run_id])
                con.execute(sql.DELETE_RUN_OUTPUTS_SCORES, [run_id])
                con.execute(sql.DELETE_RUN_OUTPUTS_RESULTS, [run_id])
                con.execute(sql.DELETE_RUN_AUGMENT_LOG, [run_id])
                con.execute(sql.INSERT_RUN, [run_id, spec.name, json.dumps(stored),
                                             spec.config.seed, code_version()])
    if not continuing and (run_dir / "checkpoints").exists():
        shutil.rmtree(run_dir / "checkpoints")  # a fresh start leaves no stale checkpoint
    plan.update(data=str(data_dir), resume=continuing, unavailable=left_out)
    return plan


def _finish(source: Catalog | CatalogRef, run_id: str, status: str) -> None:
    with catalog_session(source) as catalog:
        catalog.execute(sql.FINISH_RUN, [status, run_id])


def _results(source: Catalog | CatalogRef, run_id: str) -> pd.DataFrame:
    with catalog_session(source, read_only=isinstance(source, CatalogRef)) as catalog:
        return run_results(catalog, run_id)


def run_experiment(catalog: Catalog | CatalogRef | None, spec: RunSpec, out_dir: Path | str,
                   *, progress: Callable[[int, int, float], None] | None = None,
                   force: bool = False, resume: bool = False,
                   stop_at: int | None = None, skip_unavailable: bool = False) -> RunOutcome:
    """Train on the spec's training split, score its eval sets, store everything.

    Args:
        catalog: the catalog on rank 0 (None on other DDP ranks): an open
            :class:`Catalog` (held for the whole run) or a :class:`CatalogRef`
            (opened only for short sessions, so other commands can use it meanwhile).
        spec: the run.
        out_dir: ``OUT/runs/RUN_ID/`` gets ``data/`` (the snapshot), ``checkpoints/``,
            ``model.pt`` and ``scores/``.
        progress: ``progress(step, total, loss)``.
        force: train again even if the run finished (or stopped unfinished).
        resume: continue an unfinished run from its last checkpoint, on its snapshot.
        stop_at: stop after this step with a checkpoint (status ``stopped``; resume later).
        skip_unavailable: leave out selection items that are no longer ``ok`` instead
            of refusing to start (the count is stored with the run).

    Raises:
        CurateError: an unfinished run with a checkpoint and neither ``resume`` nor
            ``force``; a data reference to a split that does not exist; items that
            are no longer ``ok`` without ``skip_unavailable``.
    """
    ctx = ddp.context()
    out_dir = Path(out_dir)
    plan = None
    if ctx.is_main:
        if catalog is None:
            raise ValueError("run_experiment needs the catalog on rank 0")
        plan = _prepare(catalog, spec, out_dir, force, resume, skip_unavailable)
    plan = ddp.broadcast_object(plan, ctx)
    run_id, run_dir = plan["run_id"], Path(plan["run_dir"])
    if plan["skipped"]:
        results = _results(catalog, run_id) if ctx.is_main else pd.DataFrame()
        return RunOutcome(run_id, True, results, run_dir / "model.pt", "finished", run_dir)

    sink = None
    if spec.config.log_augmentation and ctx.is_main:
        from curate.augment.log import write_augment_log

        def write(epoch: int, frame: pd.DataFrame) -> None:
            with catalog_session(catalog) as session:
                write_augment_log(session, run_id, epoch, frame)

        sink = write

    data = Path(plan["data"])
    try:
        dev = TrainData.from_frame(snapshot.read_set(data, "dev")) if spec.dev_split else None
        train_data = None if spec.config.shards else TrainData.from_frame(
            snapshot.read_set(data, "train"))  # a run on shards streams them instead
        result = train(spec.config, train_data,
                       dev=dev, out_dir=run_dir, resume=plan["resume"], stop_at=stop_at,
                       progress=progress, augment_log=sink)
        if result.steps < result.total_steps and not result.early_stopped:
            if ctx.is_main:
                _finish(catalog, run_id, "stopped")
            return RunOutcome(run_id, False, pd.DataFrame(), None, "stopped", run_dir,
                              result.steps)
        checkpoint = run_dir / "model.pt"
        if ctx.is_main:
            save_checkpoint(checkpoint, result.model, spec.config, result.steps,
                            extra={"class_weights": result.class_weights,
                                   "dev_eer": {str(k): v for k, v in result.dev_eer.items()},
                                   "best": [list(b) for b in result.best]})
        shard_splits = shard_eval_splits(spec.config.shards, data)
        train_ids = snapshot.read_set(data, "train")["utt_id"].tolist() if ctx.is_main else None
        for name in snapshot.set_names(data):
            if not name.startswith("eval:"):
                continue
            rows = snapshot.read_set(data, name)
            if rows.empty:
                continue
            split = shard_splits.get(name)
            scores = scores_of(result.model, rows, spec.config, result.device, ctx) \
                if split is None else shard_scores(result.model, rows, spec.config,
                                                    result.device, ctx, split)
            if ctx.is_main:
                store_eval_set(catalog, run_id, name.removeprefix("eval:"),
                                rows.assign(score=scores), run_dir, train_ids)
        if ctx.is_main:
            _finish(catalog, run_id, "finished")
    except BaseException:
        if ctx.is_main and catalog is not None:
            try:
                _finish(catalog, run_id, "failed")
            except CurateError:
                pass  # the catalog is busy or gone: the original error matters more
        raise
    results = _results(catalog, run_id) if ctx.is_main else pd.DataFrame()
    return RunOutcome(run_id, False, results, checkpoint, "finished", run_dir, result.steps)
