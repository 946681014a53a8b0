"""The training-overlap restriction of a result: what an eval set shares with the data
the run trained on.

Public leaderboards list each model's training-overlap restrictions by hand; the
catalog knows them. For each eval set of a run, stored with its results (eval group
``all``, counts):

- ``overlap_corpora``: corpora in both;
- ``overlap_related``: pairs of different corpora, one on each side, whose lineage
  meets (:mod:`curate.select.lineage`: e.g. ASVspoof 2019 LA against VCTK);
- ``overlap_speakers``: (corpus, speaker) pairs in both;
- ``overlap_sources``: eval items made from, or the source of, training items;
- ``overlap_content``: identical decoded audio (content hash) in both.

All zero: the eval set is unseen in every sense the catalog can check.
"""

from __future__ import annotations

import pandas as pd

from curate.catalog.db import Catalog
from curate.select.lineage import relations
from curate.train import sql

METRICS = ("overlap_corpora", "overlap_related", "overlap_speakers", "overlap_sources",
           "overlap_content")


def overlap_counts(catalog: Catalog, train_ids: list[str], eval_ids: list[str]
                   ) -> dict[str, int]:
    """The counts of :data:`METRICS` between two sets of utterance ids."""
    con = catalog.con
    con.register("_train_ids", pd.DataFrame({"utt_id": list(train_ids)}, dtype="string"))
    con.register("_eval_ids", pd.DataFrame({"utt_id": list(eval_ids)}, dtype="string"))
    try:
        corpora, speakers, sources, content = con.execute(sql.TRAIN_OVERLAP).fetchone()
        sides = con.execute(sql.OVERLAP_CORPORA).fetchall()
    finally:
        con.unregister("_train_ids")
        con.unregister("_eval_ids")
    train = {c for side, c in sides if side == "train"}
    evals = {c for side, c in sides if side == "eval"}
    related = relations(catalog)
    pairs = {tuple(sorted((a, b))) for a in train for b in evals
             if a != b and tuple(sorted((a, b))) in related}
    return {"overlap_corpora": int(corpora), "overlap_related": len(pairs),
            "overlap_speakers": int(speakers), "overlap_sources": int(sources),
            "overlap_content": int(content)}


def restriction(values: dict[str, float]) -> str:
    """A short label of an eval set's overlap counts: ``none``, or what it shares."""
    names = {"overlap_corpora": "corpora", "overlap_related": "related corpora",
             "overlap_speakers": "speakers", "overlap_sources": "sources",
             "overlap_content": "audio"}
    shared = [f"{names[m]} {int(values[m])}" for m in METRICS
              if m in values and values[m] == values[m] and values[m] > 0]
    if not any(m in values for m in METRICS):
        return ""
    return ", ".join(shared) if shared else "none"
