"""The frozen data a run reads: its selections' rows, written once at the run's start.

A run never reads the live catalog while it trains. At its start, the main process
writes ``RUN_DIR/data/``:

- one Parquet file per data set (``train``, ``dev``, every eval set) holding the
  items' ids, splits, weights, facts and paths *relative to their corpus root*;
- ``roots.json``: corpus -> root, rewritten at every (re)start, so a corpus moved
  with ``curate relocate`` between a kill and ``--resume`` is found where it now is;
- ``manifest.json``, written last (its presence marks a complete snapshot): each
  set's file, selection, split, item count and how many items were left out as
  unavailable (``--skip-unavailable``).

Every rank (under DDP) and every resume reads these files, so the data of a run is
exactly the data of its start, whatever happens to the catalog meanwhile.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

MANIFEST = "manifest.json"
ROOTS = "roots.json"
# Columns a snapshot keeps (those a selection's rows carry; abspath is rebuilt).
COLUMNS: tuple[str, ...] = ("utt_id", "split", "weight", "corpus", "path", "label", "language",
                            "generator", "speaker", "duration_s", "codec")


@dataclass(frozen=True)
class SnapshotSet:
    """One data set of a run: where its rows come from and how many there are."""

    name: str  # train | dev | an eval set name
    selection: str
    split: str | None
    items: int
    unavailable: int  # items left out because their status is not ok

    def to_dict(self) -> dict:
        return {"name": self.name, "selection": self.selection, "split": self.split,
                "items": self.items, "unavailable": self.unavailable}


def _file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", name) + ".parquet"


def _write_json(path: Path, payload: dict) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, indent=1, sort_keys=True))
    os.replace(tmp, path)


def write_snapshot(folder: Path | str, sets: list[tuple[SnapshotSet, pd.DataFrame]],
                   roots: dict[str, str], selection_hashes: dict[str, str]) -> None:
    """Write every set's rows, the corpus roots and (last) the manifest to ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MANIFEST).unlink(missing_ok=True)  # incomplete until rewritten below
    entries = []
    for meta, rows in sets:
        frame = rows[[c for c in COLUMNS if c in rows.columns]].reset_index(drop=True)
        frame.to_parquet(folder / _file_name(meta.name), index=False)
        entries.append(dict(meta.to_dict(), file=_file_name(meta.name)))
    write_roots(folder, roots)
    _write_json(folder / MANIFEST, {"sets": entries, "selections": selection_hashes})


def write_roots(folder: Path | str, roots: dict[str, str]) -> None:
    """(Re)write corpus -> root; a resume refreshes it from the catalog."""
    _write_json(Path(folder) / ROOTS, dict(sorted(roots.items())))


def has_snapshot(folder: Path | str) -> bool:
    return (Path(folder) / MANIFEST).is_file()


def read_manifest(folder: Path | str) -> dict:
    return json.loads((Path(folder) / MANIFEST).read_text())


def read_set(folder: Path | str, name: str) -> pd.DataFrame:
    """One set's rows with ``abspath`` rebuilt from ``roots.json``.

    Raises:
        KeyError: when the snapshot has no set ``name``.
    """
    folder = Path(folder)
    entry = next((e for e in read_manifest(folder)["sets"] if e["name"] == name), None)
    if entry is None:
        raise KeyError(name)
    rows = pd.read_parquet(folder / entry["file"])
    roots = json.loads((folder / ROOTS).read_text())
    base = rows["corpus"].map(lambda c: str(roots.get(c, "")).rstrip("/"))
    rows["abspath"] = base + "/" + rows["path"]
    return rows


def set_names(folder: Path | str) -> list[str]:
    """The sets of a snapshot, in the order they were written (train, dev, evals)."""
    return [e["name"] for e in read_manifest(folder)["sets"]]


def unavailable_counts(folder: Path | str) -> dict[str, int]:
    """Set name -> items left out as unavailable, for sets that left any out."""
    return {e["name"]: int(e["unavailable"]) for e in read_manifest(folder)["sets"]
            if e["unavailable"]}
