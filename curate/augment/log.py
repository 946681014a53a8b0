"""Recording applied augmentation in the catalog's ``augment_log`` table.

One row per (run, epoch, utterance): ``steps`` is the JSON list of
``{"step": name, "params": {...}}`` that :class:`curate.augment.chain.Chain` returns, so
an ablation can ask which utterances were, say, mp3-compressed
(:func:`utterances_with_step`) and score them apart.
"""

from __future__ import annotations

import json
from typing import Any, Optional

import pandas as pd

from curate.augment import sql
from curate.catalog.db import Catalog

__all__ = ["write_augment_log", "utterances_with_step", "delete_augment_log"]


def _steps_json(value: Any) -> str:
    if isinstance(value, str):
        json.loads(value)  # must already be JSON
        return value
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


def write_augment_log(catalog: Catalog, run_id: str, epoch: int,
                      records: pd.DataFrame) -> int:
    """Bulk-insert applied steps for one run and epoch, in one transaction.

    Args:
        catalog: an open, writable catalog.
        run_id: the run (``runs.run_id``).
        epoch: the epoch the steps were applied in.
        records: a DataFrame with ``utt_id`` and ``steps`` (a list of
            ``{"step", "params"}`` dicts, or that list as a JSON string); rows without
            steps may be left out or carry an empty list.

    Returns:
        The number of rows written.

    Raises:
        ValueError: missing columns or a ``steps`` value that is not JSON data.
    """
    missing = [c for c in ("utt_id", "steps") if c not in records.columns]
    if missing:
        raise ValueError(f"records lack the column(s) {', '.join(missing)}; pass a DataFrame "
                         "with utt_id and steps")
    if isinstance(epoch, bool) or not isinstance(epoch, int):
        raise ValueError(f"epoch must be an integer, got {epoch!r}")
    try:
        steps = [_steps_json(v) for v in records["steps"]]
    except (TypeError, ValueError) as exc:
        raise ValueError(f"records.steps holds a value that is not JSON data ({exc}); pass "
                         "the lists Chain.cpu_stage / device_stage return") from None
    frame = pd.DataFrame({"utt_id": records["utt_id"].astype(str).to_numpy(), "steps": steps})
    if frame.empty:
        return 0
    con = catalog.con
    with catalog.transaction():
        con.register("_augment_rows", frame)
        try:
            con.execute(sql.INSERT_AUGMENT_LOG, [str(run_id), int(epoch)])
        finally:
            con.unregister("_augment_rows")
    return len(frame)


def delete_augment_log(catalog: Catalog, run_id: str, epoch: Optional[int] = None) -> None:
    """Remove a run's rows (one epoch's, or all), e.g. before re-running an epoch."""
    catalog.execute(sql.DELETE_AUGMENT_LOG, [str(run_id), epoch, epoch])


def utterances_with_step(catalog: Catalog, run_id: str, step: str,
                         param: Optional[str] = None, value: Any = None,
                         epoch: Optional[int] = None) -> list[str]:
    """utt_ids of a run that got ``step`` (optionally with ``params[param] == value``,
    compared as text), in any epoch or in ``epoch``.

    ``utterances_with_step(cat, run, "codec", "codec", "mp3")``: the mp3-compressed ones.
    """
    if param is not None and not param.replace("_", "").isalnum():
        raise ValueError(f"param must be a parameter name (letters, digits, _), got {param!r}")
    text = None if value is None else (value if isinstance(value, str) else json.dumps(value))
    rows = catalog.execute(sql.UTTERANCES_WITH_STEP,
                           [str(run_id), epoch, epoch, step, param, param, text]).fetchall()
    return [r[0] for r in rows]
