"""Robustness grids: score an eval set under each condition of a degrade file.

A degrade file is a TOML grid of named conditions; each condition is a chain in the
augmentation chain format (:mod:`curate.augment.chain`), written inline as
``[[condition.step]]`` tables or taken from a chain file:

```toml
seed = 0                       # base seed of every condition (default 0)
# sample_rate = 16000          # default: the run's rate (must equal it when given)

[[condition]]
name = "mp3_32k"               # [A-Za-z0-9_.-]+, unique, not "clean"
[[condition.step]]
name = "codec"
codecs = ["mp3"]
bitrates = { mp3 = [32000] }

[[condition]]
name = "telephony"
chain = "telephony.toml"       # relative to the grid file
p = 1.0                        # every step's p (default 1)
```

The condition ``clean`` (the audio as it is) is always scored first and is exactly
:func:`curate.train.eval_run.evaluate_run`. Each other condition runs its whole chain
(CPU then device steps, :meth:`Chain.apply_offline`) on every eval clip after decoding,
resampling and the eval crop, on the CPU in the loader, with generators seeded by
``(condition seed, condition name, utt_id)``: a condition's audio depends on neither
batch, order nor workers, and the same file gives the same scores. Inline steps apply
to every utterance (``p`` = 1; another ``p`` is an error).

Results are rows of the eval set: the clean scoring's usual groups (``all``,
``generator=G``, ...), then per condition (``clean`` included) the same groups under
``condition=NAME`` (for ``all``) and ``condition=NAME/GROUP`` (``condition=mp3_32k/
generator=A07``). Scores of a condition go to a score file only
(``RUN_DIR/scores/SET.condition=NAME.tsv``; the ``scores`` table keeps the clean ones).
Scoring the eval set again (with or without a grid) replaces all of its results.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from curate.augment.chain.errors import ChainError
from curate.augment.chain.parse import check_int, parse_chain
from curate.augment.chain.pipeline import Chain
from curate.augment.chain.seeds import batch_generator, utterance_rng
from curate.catalog.db import Catalog, CatalogRef, catalog_session
from curate.errors import CurateError
from curate.tomlfile import read_toml
from curate.train import distributed as ddp
from curate.train import sql
from curate.train.data import CropDataset
from curate.train.eval_run import eval_inputs, store_run_scores
from curate.train.evaluate import METRICS, group_results, score_file_stem, write_score_file
from curate.train.row_scoring import scores_of
from curate.train.waveform_outputs import model_outputs, score_fn

__all__ = ["Condition", "DegradeGrid", "DegradeOutcome", "parse_grid", "load_grid",
           "degrade_waveform", "DegradedDataset", "condition_results", "condition_table",
           "evaluate_degraded", "CLEAN"]

CLEAN = "clean"
_TOP_KEYS = ("name", "description", "seed", "sample_rate", "condition")
_CONDITION_KEYS = ("name", "description", "seed", "step", "chain", "p")
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")

#: ``progress(condition, done, total)``: items of a condition scored so far
ConditionProgress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Condition:
    """One condition of a grid: a name, a chain applied to every clip (None: clean)
    and the seed of its generators."""

    name: str
    chain: Chain | None
    seed: int
    description: str = ""


@dataclass(frozen=True)
class DegradeGrid:
    """A parsed degrade file; ``conditions`` starts with ``clean``."""

    source: str
    sample_rate: int
    conditions: tuple[Condition, ...]

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.conditions]


def _condition(raw: Any, index: int, source: str, sample_rate: int, seed: int,
               base_dir: Path | None) -> Condition:
    if not isinstance(raw, Mapping):
        raise ChainError(f"{source}: condition {index} must be a [[condition]] table")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ChainError(f"{source}: condition {index} needs name = a word of letters, "
                         f"digits, '_', '.' or '-' (got {name!r})")
    where = f"{source}: condition {name!r}"
    if name == CLEAN:
        raise ChainError(f"{where}: 'clean' is the undegraded audio and always scored; "
                         "give this condition another name")
    unknown = [k for k in raw if k not in _CONDITION_KEYS]
    if unknown:
        raise ChainError(f"{where}: unknown key {unknown[0]!r}; a condition has "
                         f"{', '.join(_CONDITION_KEYS)}")
    seed = check_int(where, "seed", raw.get("seed", seed), 0)
    if ("step" in raw) == ("chain" in raw):
        raise ChainError(f"{where}: give either [[condition.step]] tables or chain = "
                         "'FILE.toml', exactly one of them")
    if "step" in raw:
        if "p" in raw:
            raise ChainError(f"{where}: p only applies to chain = 'FILE.toml'; inline steps "
                             "always apply (leave p out)")
        steps = raw["step"]
        if not isinstance(steps, list) or not steps:
            raise ChainError(f"{where}: steps must be [[condition.step]] tables (at least "
                             "one)")
        for i, step in enumerate(steps, start=1):
            if isinstance(step, Mapping) and step.get("p", 1.0) != 1.0:
                raise ChainError(f"{where}: step {i} has p = {step['p']!r}, but a condition "
                                 "applies every step to every utterance; leave p out")
        data = {"sample_rate": sample_rate, "seed": seed, "step": steps}
    else:
        data = _referenced_chain(raw, where, sample_rate, seed, base_dir)
    chain = parse_chain(data, where, base_dir)
    return Condition(name, chain, seed, str(raw.get("description", "")))


def _referenced_chain(raw: Mapping[str, Any], where: str, sample_rate: int, seed: int,
                      base_dir: Path | None) -> dict:
    """A chain file's data with the grid's rate and seed and every step's p set."""
    ref = raw["chain"]
    if not isinstance(ref, str) or not ref:
        raise ChainError(f"{where}: chain must be the path of a chain file, got {ref!r}")
    path = Path(ref)
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    if not path.is_file():
        raise ChainError(f"{where}: chain file {path} does not exist; give its path "
                         "relative to the grid file")
    p = raw.get("p", 1.0)
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 < p <= 1:
        raise ChainError(f"{where}: p must be a probability in (0, 1], got {p!r}")
    data = dict(read_toml(path, "chain"))
    rate = data.get("sample_rate", sample_rate)
    if rate != sample_rate:
        raise ChainError(f"{where}: chain {path} is for {rate} Hz but the grid runs at "
                         f"{sample_rate} Hz; change the chain's sample_rate")
    steps = data.get("step", [])
    if not isinstance(steps, list) or not steps or not all(isinstance(s, Mapping)
                                                           for s in steps):
        raise ChainError(f"{where}: chain {path} has no [[step]] tables")
    data.update(sample_rate=sample_rate, seed=seed,
                step=[dict(s, p=float(p)) for s in steps])
    return data


def parse_grid(data: Mapping[str, Any], source: str = "<grid>", *,
               sample_rate: int = 16000, base_dir: Path | None = None) -> DegradeGrid:
    """A :class:`DegradeGrid` from parsed TOML ``data`` (see the module doc).

    Args:
        data: the file's tables.
        source: names the file in errors.
        sample_rate: the run's rate in Hz (the grid's ``sample_rate`` must equal it).
        base_dir: resolves chain files and step paths (default: ``source``'s folder).

    Raises:
        ChainError: one sentence naming the file, the condition, the step or key and
            the fix.
    """
    if not isinstance(data, Mapping):
        raise ChainError(f"{source}: a degrade grid is a TOML table with [[condition]] tables")
    unknown = [k for k in data if k not in _TOP_KEYS]
    if unknown:
        raise ChainError(f"{source}: unknown key {unknown[0]!r}; a degrade grid has "
                         f"{', '.join(_TOP_KEYS)}")
    rate = check_int(source, "sample_rate", data.get("sample_rate", sample_rate), 1000)
    if rate != sample_rate:
        raise ChainError(f"{source}: sample_rate is {rate} Hz but the run's model takes "
                         f"{sample_rate} Hz; set sample_rate = {sample_rate} or leave it out")
    seed = check_int(source, "seed", data.get("seed", 0), 0)
    raw = data.get("condition", [])
    if not isinstance(raw, list) or not raw:
        raise ChainError(f"{source}: no conditions; add [[condition]] tables with a name "
                         "and [[condition.step]] tables or chain = 'FILE.toml'")
    if base_dir is None and Path(source).is_file():
        base_dir = Path(source).resolve().parent
    conditions = [Condition(CLEAN, None, seed, "the audio as it is")]
    for index, item in enumerate(raw, start=1):
        condition = _condition(item, index, source, rate, seed, base_dir)
        if condition.name in [c.name for c in conditions]:
            raise ChainError(f"{source}: condition {condition.name!r} appears twice; give "
                             "each condition its own name")
        conditions.append(condition)
    return DegradeGrid(source, rate, tuple(conditions))


def load_grid(path: str | Path, sample_rate: int = 16000) -> DegradeGrid:
    """Read and check a degrade file for a model at ``sample_rate`` Hz."""
    path = Path(path)
    return parse_grid(read_toml(path, "degrade grid"), str(path), sample_rate=sample_rate,
                      base_dir=path.resolve().parent)


def degrade_waveform(x: np.ndarray, sample_rate: int, condition: Condition,
                     key: str) -> np.ndarray:
    """One clip under ``condition``: float32 ``(time,)`` in, float32 ``(time,)`` out (same
    length); deterministic in ``(condition.seed, condition.name, key)``."""
    x = np.asarray(x, dtype=np.float32)
    if condition.chain is None:
        return x
    word = f"{condition.name}:{key}"
    rng = utterance_rng(condition.seed, 0, word)
    generator = batch_generator(condition.seed, 0, word)
    y, _ = condition.chain.apply_offline(x, sample_rate, rng, generator)
    if not np.isfinite(y).all():
        raise FloatingPointError(f"condition {condition.name!r} gave NaN/inf samples for "
                                 f"{key}; check its steps' parameters")
    return y


class DegradedDataset(torch.utils.data.Dataset):
    """Eval clips of ``paths`` (decoded, resampled, cropped as the clean scoring reads
    them) under ``condition``; items ``(waveform (time,), length, label)``."""

    def __init__(self, paths: list[str], keys: list[str], condition: Condition,
                 sample_rate: int, max_seconds: float | None) -> None:
        if len(paths) != len(keys):
            raise ValueError(f"paths has {len(paths)} entries but keys has {len(keys)}; "
                             "pass one key (utt_id) per path")
        self.clean = CropDataset(paths, None, sample_rate=sample_rate, seconds=max_seconds,
                                 train=False)
        self.keys = list(keys)
        self.condition = condition
        self.sample_rate = int(sample_rate)

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, index: int) -> tuple:
        wave, _, label = self.clean[index]
        y = degrade_waveform(wave.numpy(), self.sample_rate, self.condition, self.keys[index])
        return torch.from_numpy(np.ascontiguousarray(y)), int(y.shape[0]), label


def condition_results(scored: pd.DataFrame, condition: str) -> pd.DataFrame:
    """The eval groups of ``scored`` (``score``, ``label``, group columns) under one
    condition: ``all`` -> ``condition=NAME``, ``G`` -> ``condition=NAME/G``."""
    results = group_results(scored)
    prefix = f"condition={condition}"
    results["eval_group"] = [prefix if g == "all" else f"{prefix}/{g}"
                             for g in results["eval_group"]]
    return results


def condition_table(results: pd.DataFrame) -> pd.DataFrame:
    """Per condition (in grid order): ``eer``, ``min_dcf``, ``act_dcf``, ``n_bonafide``,
    ``n_spoof`` and ``eer_delta`` (EER minus the clean EER), from the ``condition=NAME``
    rows of ``results``."""
    rows = results[results["eval_group"].str.match(r"^condition=[^/]+$")]
    wide = rows.pivot_table(index="eval_group", columns="metric", values="value",
                            sort=False).reset_index()
    wide.insert(0, "condition", wide.pop("eval_group").str.removeprefix("condition="))
    columns = ["condition"] + [m for m in ("eer", "min_dcf", "act_dcf", "n_bonafide",
                                           "n_spoof") if m in wide.columns]
    wide = wide[columns].reset_index(drop=True)
    clean = wide.loc[wide["condition"] == CLEAN, "eer"]
    wide["eer_delta"] = wide["eer"] - (float(clean.iloc[0]) if len(clean) else np.nan)
    return wide


@dataclass(frozen=True)
class DegradeOutcome:
    """What :func:`evaluate_degraded` stored and wrote."""

    eval_set: str
    results: pd.DataFrame      # (eval_set, eval_group, metric, value), every row stored
    table: pd.DataFrame        # condition_table(results)
    score_files: dict[str, Path]
    plot: Path | None


def evaluate_degraded(catalog: Catalog | CatalogRef, run_id: str, selection: str,
                      split: str | None, grid: DegradeGrid | str | Path, *,
                      run_dir: Path | str | None = None, device: str | None = None,
                      batch_size: int | None = None, skip_unavailable: bool = False,
                      bootstrap: int = 0, by_speaker: bool = False, plot: bool = True,
                      progress: ConditionProgress | None = None) -> DegradeOutcome:
    """Score a selection (split) with a run's model under every condition of ``grid``.

    Every condition is scored before anything is stored; then the clean scoring is
    stored as :func:`~curate.train.eval_run.evaluate_run` stores it (scores, results,
    score file, ``bootstrap`` intervals) and the conditions' results are added in one
    transaction, each condition's scores written to ``RUN_DIR/scores/SET.condition=NAME.tsv``
    and, with ``plot``, the EER per condition to ``RUN_DIR/scores/SET.degrade.png``.

    Args:
        grid: a :class:`DegradeGrid` or the path of a degrade file.
        progress: ``progress(condition, done, total)`` while a condition is scored.
    """
    inputs = eval_inputs(catalog, run_id, selection, split, run_dir=run_dir, device=device,
                         batch_size=batch_size, skip_unavailable=skip_unavailable)
    config, rows, model = inputs.config, inputs.rows, inputs.run.model
    if not isinstance(grid, DegradeGrid):
        grid = load_grid(grid, config.sample_rate)
    elif grid.sample_rate != config.sample_rate:
        raise CurateError(f"{grid.source}: the grid is for {grid.sample_rate} Hz but run "
                          f"{run_id} takes {config.sample_rate} Hz; parse it at that rate")
    paths = rows["abspath"].astype(str).tolist()
    keys = rows["utt_id"].astype(str).tolist()
    durations = rows["duration_s"].to_numpy(dtype=np.float64) \
        if "duration_s" in rows else None
    scores: dict[str, np.ndarray] = {}
    for condition in grid.conditions:
        if progress is not None:
            progress(condition.name, 0, len(rows))
        if condition.chain is None:
            scores[condition.name] = scores_of(model, rows, config, inputs.device,
                                               ddp.DistContext())
            if progress is not None:
                progress(condition.name, len(rows), len(rows))
            continue
        dataset = DegradedDataset(paths, keys, condition, config.sample_rate,
                                  config.eval_max_seconds)
        scores[condition.name] = model_outputs(
            model, dataset, score_fn, config, inputs.device, durations,
            describe=lambda i: f"{keys[i]} under {condition.name}",
            progress=None if progress is None else
            (lambda done, total, name=condition.name: progress(name, done, total)))
    clean = store_run_scores(catalog, inputs, scores[CLEAN], bootstrap=bootstrap,
                             by_speaker=by_speaker)
    extra = pd.concat([condition_results(rows.assign(score=s), name)
                       for name, s in scores.items()], ignore_index=True)
    extra = extra[extra["metric"].isin(METRICS)].assign(run_id=run_id, eval_set=inputs.name)
    with catalog_session(catalog) as session, session.transaction() as con:
        con.register("_results", extra)
        con.execute(sql.INSERT_RESULTS)
        con.unregister("_results")
    folder = Path(inputs.run.run_dir) / "scores"
    files = {}
    for name, s in scores.items():
        if name != CLEAN:
            files[name] = write_score_file(
                folder / f"{score_file_stem(inputs.name)}.condition={name}.tsv", keys, s)
    results = pd.concat([clean, extra[["eval_set", "eval_group", "metric", "value"]]],
                        ignore_index=True)
    table = condition_table(results)
    figure = None
    if plot:
        from curate.train.score_plots import write_condition_plot

        figure = write_condition_plot(table, folder / f"{score_file_stem(inputs.name)}.degrade.png",
                                      title=f"run {run_id} on {inputs.name}")
    return DegradeOutcome(inputs.name, results, table, files, figure)
