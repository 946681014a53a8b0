"""The leaderboard as plain data: per-set and summary metrics of every run.

Per (run, set): EER and minDCF (:mod:`curate.train.metrics`, ASVspoof 5 operating point)
over the set's trials, the numbers of trials and of skipped items, the training-overlap
restriction and the provenance record. Per run:

- ``average_eer`` / ``average_min_dcf``: the mean over the sets that have an EER;
- ``pooled_eer`` / ``pooled_min_dcf``: one EER (one threshold) over the trials of all
  sets together: the concatenation of every set's trials (an item in two sets counts
  once per set).

Runs are ranked by average EER, then pooled EER. Values are fractions (0-1).
"""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pandas as pd

from curate.benchmark.runner import BenchmarkOutcome
from curate.train.metrics import compute_eer, min_dcf
from curate.train.overlap import restriction

__all__ = ["trial_metrics", "build_board"]


def trial_metrics(trials: pd.DataFrame) -> dict[str, float | None]:
    """EER and minDCF of trials (``label``, ``score``); None where a class is absent."""
    is_bona = (trials["label"] == "bonafide").to_numpy()
    score = trials["score"].to_numpy(dtype=np.float64)
    if not is_bona.any() or is_bona.all():
        return {"eer": None, "min_dcf": None}
    eer, _ = compute_eer(score[is_bona], score[~is_bona])
    dcf, _ = min_dcf(score[is_bona], score[~is_bona])
    return {"eer": float(eer), "min_dcf": float(dcf)}


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None


def _rank_key(run: dict) -> tuple:
    return (run["average_eer"] is None, run["average_eer"] or 0.0,
            run["pooled_eer"] is None, run["pooled_eer"] or 0.0, run["order"])


def build_board(outcome: BenchmarkOutcome, *, created_at: str | None = None) -> dict:
    """The leaderboard of a benchmark as JSON-ready data (see the module docstring)."""
    suite = outcome.suite
    results = []
    by_run: dict[str, list[dict]] = {run.run_id: [] for run in outcome.runs}
    trials_of: dict[str, list[pd.DataFrame]] = {run.run_id: [] for run in outcome.runs}
    for item in outcome.outcomes:
        record = item.provenance
        metrics = trial_metrics(item.trials)
        note = item.note or ("one class only" if metrics["eer"] is None else "")
        entry = {"run_id": item.run_id, "set": item.set_name, **metrics,
                 "n_trials": record["n_trials"], "n_bonafide": record["n_bonafide"],
                 "n_spoof": record["n_spoof"], "n_skipped": record["n_skipped"],
                 "overlap": dict(item.overlap),
                 "restriction": restriction(item.overlap) or "unknown", "note": note,
                 "provenance": record}
        results.append(entry)
        by_run[item.run_id].append(entry)
        trials_of[item.run_id].append(item.trials)
    runs = []
    for order, run in enumerate(outcome.runs):
        entries = by_run[run.run_id]
        frames = [t for t in trials_of[run.run_id] if not t.empty]
        pooled = trial_metrics(pd.concat(frames, ignore_index=True)) if frames else \
            {"eer": None, "min_dcf": None}
        runs.append({"run_id": run.run_id, "name": run.name, "code_version": run.code_version,
                     "average_eer": _mean([e["eer"] for e in entries]),
                     "average_min_dcf": _mean([e["min_dcf"] for e in entries]),
                     "pooled_eer": pooled["eer"], "pooled_min_dcf": pooled["min_dcf"],
                     "n_sets": sum(e["eer"] is not None for e in entries),
                     "n_trials": int(sum(e["n_trials"] for e in entries)),
                     "n_skipped": int(sum(e["n_skipped"] for e in entries)),
                     "order": order})
    runs.sort(key=_rank_key)
    for rank, run in enumerate(runs, start=1):
        run["rank"] = rank
        del run["order"]
    sets = [{"name": s.name, "title": s.title, "status": s.status, "reason": s.reason,
             "selection": s.selection, "split": s.split, "spec_hash": s.spec_hash,
             "corpora": list(s.corpora), "frozen": s.frozen} for s in outcome.sets]
    return {"suite": {"name": suite.name, "title": suite.title, "url": suite.url,
                      "notes": suite.notes, "file": suite.source,
                      "sha256": suite.text_hash},
            "created_at": created_at or datetime.now(timezone.utc).isoformat(
                timespec="seconds"),
            "metrics": {"eer": "fraction (0-1), threshold at score >= t accepts bonafide",
                        "min_dcf": "normalised, p_spoof 0.05, C_miss 1, C_fa 10",
                        "pooled": "one EER over the concatenated trials of all sets"},
            "sets": sets, "runs": runs, "results": results}
