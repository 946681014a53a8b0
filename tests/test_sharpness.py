"""m-sharpness against a direct computation; weights restored; groups; correlation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
from scipy import stats
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F

from curate.catalog.db import open_catalog
from curate.train.models import masked_mean
from curate.train.sharpness import correlate, m_sharpness, sharpness_by_group

SR = 16000


class Tiny(nn.Module):
    """Frame energies -> BatchNorm -> linear: small enough to check by hand."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(4, 3)
        self.norm = nn.BatchNorm1d(3)
        self.head = nn.Linear(3, 2)

    def forward(self, x, lengths=None):
        lengths = torch.full((x.shape[0],), x.shape[1]) if lengths is None else lengths
        frames = x[:, : x.shape[1] // 4 * 4].reshape(x.shape[0], -1, 4)
        h = torch.tanh(self.proj(frames * 10))
        pooled = masked_mean(h, torch.clamp(lengths // 4, min=1))
        return self.head(self.norm(pooled))


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("sharp")
    rng = np.random.default_rng(0)
    paths, labels = [], []
    for i in range(12):
        x = 0.1 * rng.standard_normal(int(rng.uniform(0.05, 0.1) * SR)) * (1 + i % 2)
        path = root / f"{i}.wav"
        sf.write(path, x.astype(np.float32), SR)
        paths.append(str(path))
        labels.append(i % 2)
    return paths, labels


def trained_tiny() -> Tiny:
    torch.manual_seed(0)
    model = Tiny()
    model.train()
    with torch.no_grad():
        model(torch.randn(16, 800))  # some running statistics
    return model.eval()


def direct(model, x, lengths, y, rho, adaptive, weight=None):
    params = {k: v.detach().clone().requires_grad_(True) for k, v in model.named_parameters()}
    buffers = dict(model.named_buffers())
    loss = F.cross_entropy(functional_call(model, (params, buffers), (x, lengths)), y,
                           weight=weight)
    grads = torch.autograd.grad(loss, list(params.values()))
    if adaptive:
        norm = torch.sqrt(sum(((p.abs() * g) ** 2).sum() for p, g in zip(params.values(), grads)))
        e = [rho * p * p * g / norm for p, g in zip(params.values(), grads)]
    else:
        norm = torch.sqrt(sum((g ** 2).sum() for g in grads))
        e = [rho * g / norm for g in grads]
    moved = {k: (p + d).detach() for (k, p), d in zip(params.items(), e)}
    perturbed = F.cross_entropy(functional_call(model, (moved, buffers), (x, lengths)), y,
                                weight=weight)
    return float((perturbed - loss).detach()), float(norm.detach())


def test_one_batch_equals_the_direct_computation(clips):
    from curate.train.data import CropDataset, collate

    paths, labels = clips
    model = trained_tiny()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x, lengths, y = collate([CropDataset(paths, labels, train=False, seconds=None)[i]
                             for i in range(12)])
    weight = [2.0, 0.5]
    for adaptive in (False, True):
        result = m_sharpness(model, paths, labels, rho=0.05, m=12, batches=None,
                             adaptive=adaptive, max_seconds=None, class_weights=weight)
        expected, _ = direct(model, x, lengths, y, 0.05, adaptive, torch.tensor(weight))
        assert result.batches == 1 and result.m == 12 and result.adaptive == adaptive
        assert result.value == pytest.approx(expected, rel=1e-4, abs=5e-7)  # fp32 difference
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # weights, BN statistics
    assert not model.training


def test_small_rho_is_first_order_and_batches_are_capped(clips):
    paths, labels = clips
    model = trained_tiny()
    from curate.train.data import CropDataset, collate

    x, lengths, y = collate([CropDataset(paths, labels, train=False, seconds=None)[i]
                             for i in range(12)])
    rho = 1e-4
    _, grad_norm = direct(model, x, lengths, y, rho, False)
    result = m_sharpness(model, paths, labels, rho=rho, m=12, batches=None, max_seconds=None)
    assert result.value == pytest.approx(rho * grad_norm, rel=1e-2)  # L(w+e)-L(w) ~ rho ||g||
    capped = m_sharpness(model, paths, labels, m=4, batches=2, seed=1)
    assert capped.batches == 2 and len(capped.per_batch) == 2
    every = m_sharpness(model, paths, labels, m=4, batches=None, seed=1)
    assert every.batches == 3
    assert every.per_batch[:2].tolist() == capped.per_batch.tolist()
    assert m_sharpness(model, paths, labels, m=4, batches=None, seed=1).value == every.value


def test_sharpness_by_group_covers_the_eval_groups(clips):
    paths, labels = clips
    rows = pd.DataFrame({"abspath": paths, "utt_id": [f"c:{i}" for i in range(12)],
                         "label": ["bonafide" if v else "spoof" for v in labels],
                         "generator": [None if v else f"c:g{i % 4 // 2}"
                                       for i, v in enumerate(labels)],
                         "language": ["eng"] * 6 + ["deu"] * 6, "corpus": ["c"] * 12})
    table = sharpness_by_group(trained_tiny(), rows, m=4, batches=2)
    groups = set(table.eval_group)
    assert groups == {"all", "generator=c:g0", "generator=c:g1", "language=deu",
                      "language=eng", "corpus=c"}
    per = table.pivot(index="eval_group", columns="metric", values="value")
    assert (per["sharpness_rho"] == 0.05).all() and (per["sharpness_m"] == 4).all()


def test_correlation_across_runs_and_eval_sets(tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for r in range(5):
        for eval_set in ("test", "itw"):
            sharp = float(rng.uniform(0, 1))
            eer = 0.1 + 0.3 * sharp + float(rng.normal(0, 0.02))
            rows += [(f"run{r}", eval_set, "all", "sharpness", sharp),
                     (f"run{r}", eval_set, "all", "eer", eer),
                     (f"run{r}", eval_set, "language=eng", "eer", eer)]
    frame = pd.DataFrame(rows, columns=["run_id", "eval_set", "eval_group", "metric", "value"])
    with open_catalog(tmp_path / "c.duckdb") as catalog:
        catalog.con.register("_r", frame)
        catalog.execute("INSERT INTO results SELECT run_id, eval_set, eval_group, metric, value "
                        "FROM _r")
        table = correlate(catalog, by_set=True).set_index("scope")
    sharp = frame[frame.metric == "sharpness"].value.to_numpy()
    eer = frame[(frame.metric == "eer") & (frame.eval_group == "all")].value.to_numpy()
    rho, p = stats.spearmanr(sharp, eer)
    tau, tau_p = stats.kendalltau(sharp, eer)
    assert table.loc["all", "n"] == 10
    assert table.loc["all", "spearman"] == pytest.approx(rho)
    assert table.loc["all", "spearman_p"] == pytest.approx(p)
    assert table.loc["all", "kendall"] == pytest.approx(tau)
    assert table.loc["all", "kendall_p"] == pytest.approx(tau_p)
    assert set(table.index) == {"all", "itw", "test"} and table.loc["test", "n"] == 5
    assert table.loc["all", "spearman"] > 0.8
