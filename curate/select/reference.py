"""A plain pandas implementation of a selection spec: the benchmark's baseline.

It follows the same definitions as the SQL freeze (``curate/select/sql.py``), stage by
stage, so both give the same items; `curate bench select` compares their time and
peak memory, and a test checks they agree.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from curate.select.spec import SelectionSpec

NEEDED = ("utt_id", "corpus", "subset", "label", "generator", "language", "speaker",
          "source_utt", "content_hash", "duration_s", "status")


def _md5(seed: int, values: pd.Series) -> pd.Series:
    """The upper 64 bits of md5(seed:value), as DuckDB's ``md5_number_upper``."""
    prefix = f"{seed}:"
    keys = [int.from_bytes(hashlib.md5((prefix + v).encode()).digest()[:8], "little")
            for v in values]
    return pd.Series(np.array(keys, dtype=np.uint64), index=values.index)


def _group_key(frame: pd.DataFrame, by: str) -> pd.Series:
    if by == "speaker":
        key = ("spk:" + frame["corpus"] + ":" + frame["speaker"])
        key = key.fillna("src:" + frame["source_utt"]).fillna("utt:" + frame["utt_id"])
    elif by == "source_utt":
        key = "src:" + frame["source_utt"].fillna(frame["utt_id"])
    else:
        key = "utt:" + frame["utt_id"]
    return key.astype(object)


def _contains(values: tuple[str, ...], column: pd.Series) -> pd.Series:
    return column.isin(values) if values else pd.Series(True, index=column.index)


def select_pandas(utterances: pd.DataFrame, spec: SelectionSpec) -> pd.DataFrame:
    """``(utt_id, split, weight)`` of ``spec`` over an ``utterances`` DataFrame.

    ``filter.where`` is not supported here (it is SQL); a spec with it raises.
    """
    if spec.filter.where:
        raise ValueError("spec.filter.where is SQL: the pandas reference cannot run it")
    f, hold = spec.filter, spec.holdout
    df = utterances
    mask = pd.Series(True, index=df.index) if f.status == "any" else df["status"] == f.status
    mask &= _contains(f.corpora, df["corpus"]) & _contains(f.languages, df["language"])
    mask &= _contains(f.labels, df["label"]) & _contains(f.generators, df["generator"])
    mask &= _contains(f.subsets, df["subset"])
    if f.min_duration_s is not None:
        mask &= df["duration_s"] >= f.min_duration_s
    if f.max_duration_s is not None:
        mask &= df["duration_s"] <= f.max_duration_s
    df = df.loc[mask.fillna(False).astype(bool)].copy()
    df["dur"] = df["duration_s"].fillna(0.0)
    df["holdout"] = (df["generator"].isin(hold.generators) | df["language"].isin(hold.languages)
                     | df["corpus"].isin(hold.corpora))
    df["rkey"] = _md5(spec.seed, df["utt_id"])
    if spec.split.by != "subset":
        df["grp"] = _group_key(df, spec.split.by)

    if spec.dedup.content_hash:
        first = df.sort_values("utt_id").drop_duplicates("content_hash")
        df = df[df["content_hash"].isna() | df.index.isin(first.index)]
    if spec.dedup.source_utt:
        spoof = df[(df["label"] != "bonafide") & df["source_utt"].notna()]
        first = spoof.sort_values(["rkey", "utt_id"]).drop_duplicates("source_utt")
        df = df[(df["label"] == "bonafide") | df["source_utt"].isna() | df.index.isin(first.index)]

    quota = spec.quota
    if quota.active:
        df = df.sort_values(["rkey", "utt_id"])
        unit = df["dur"] / 3600.0 if quota.unit == "hours" else pd.Series(1.0, index=df.index)
        running = unit.groupby([df[c] for c in quota.by], dropna=False).cumsum()
        default = quota.cap if quota.cap is not None else np.inf
        columns = sorted({c for c, _, _ in quota.caps})
        cap = pd.Series(np.inf if columns else default, index=df.index)
        for column in columns:
            table = {v: limit for c, v, limit in quota.caps if c == column}
            own = df[column].astype("string").map(table).astype(float).fillna(default)
            cap = np.minimum(cap, own)
        df = df[running <= cap * (1 + 1e-12)]

    if quota.temperature is not None:
        tg = df[quota.temperature_by].astype(object).fillna("")
        sizes = (df["dur"] / 3600.0).groupby(tg).sum()
        sizes = sizes[sizes > 0]
        weights = sizes ** (1.0 / quota.temperature)
        shares = weights / weights.sum()
        budget = quota.total_hours if quota.total_hours is not None else float((sizes / shares).min())
        limit = np.minimum(sizes, budget * shares)
        df = df.assign(_tg=tg).sort_values(["rkey", "utt_id"])
        df = df[df["_tg"].isin(sizes.index)]
        running = (df["dur"] / 3600.0).groupby(df["_tg"]).cumsum()
        df = df[running <= df["_tg"].map(limit) * (1 + 1e-9)].drop(columns="_tg")

    df["weight"] = 1.0
    balance = spec.balance
    if balance.ratio is not None:
        keys = [df[c] for c in balance.by] if balance.by else [pd.Series(0, index=df.index)]
        nb = (df["label"] == "bonafide").groupby(keys, dropna=False).transform("sum")
        ns = (df["label"] == "spoof").groupby(keys, dropna=False).transform("sum")
        r = balance.ratio
        if balance.method == "downsample":
            df = df.sort_values(["rkey", "utt_id"])
            rn = df.groupby(keys + [df["label"]], dropna=False).cumcount() + 1
            nb, ns = nb.loc[df.index], ns.loc[df.index]
            keep = (((df["label"] == "bonafide") & (rn <= np.minimum(nb, r * ns) + 1e-9))
                    | ((df["label"] == "spoof") & (rn <= np.minimum(ns, nb / r) + 1e-9)))
            df = df[keep]
        else:
            total = nb + ns
            w = np.where(df["label"] == "bonafide", (r / (1 + r)) * total / nb.where(nb > 0, 1),
                         (1 / (1 + r)) * total / ns.where(ns > 0, 1))
            df["weight"] = np.where((nb == 0) | (ns == 0), 1.0, w)

    split = spec.split
    if split.by == "subset":
        mapping = dict(split.subsets)
        df["split"] = df["subset"].map(mapping)
    else:
        names = [n for n, _ in split.fractions]
        bounds = np.cumsum([v for _, v in split.fractions])
        bounds[-1] = 1.0 + 1e-9
        groups = df.groupby("grp").size().rename("n").reset_index()
        groups["key"] = _md5(spec.seed, groups["grp"])
        groups = groups.sort_values(["key", "grp"])
        groups["pos"] = (groups["n"].cumsum() - groups["n"] / 2.0) / groups["n"].sum()
        index = np.searchsorted(bounds, groups["pos"].to_numpy(), side="right")
        groups["split"] = np.asarray(names, dtype=object)[index]
        df = df.merge(groups[["grp", "split"]], on="grp", how="inner")
    df = df[df["split"].notna()]
    moved = df["holdout"] & (df["split"] != "test")
    if hold.policy == "drop":
        df = df[~moved]
    else:
        df.loc[moved, "split"] = "test"
    out = df[["utt_id", "split", "weight"]].sort_values("utt_id").reset_index(drop=True)
    return out
