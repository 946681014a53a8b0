"""Embeddings of a run (curate.train.embeddings), projections (curate.train.projection)
and `curate embed`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch

from curate.catalog.db import CatalogRef, open_catalog
from curate.train.embeddings import (colour_values, embed_run, embedding_matrix,
                                     plot_embeddings, read_embeddings, write_embeddings)
from curate.train.projection import pca, project, tsne

TINY_SSL = dict(extractor_mode="group_norm",
                extractor_conv_layer_config=[[16, 10, 5], [16, 3, 2], [16, 2, 2]],
                encoder_embed_dim=32, encoder_pos_conv_kernel=8, encoder_pos_conv_groups=4,
                encoder_num_layers=2, encoder_num_heads=2, encoder_ff_interm_features=64)


def _cloud(n: int = 200, d: int = 6, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(d, d)) * np.linspace(3.0, 0.2, d)[:, None]
    return rng.normal(size=(n, d)) @ mix + 5.0


def test_pca_matches_the_covariance_eigenvectors():
    x = _cloud()
    result = pca(x, 3)
    values, vectors = np.linalg.eigh(np.cov(x, rowvar=False))
    order = np.argsort(values)[::-1]
    values, vectors = values[order], vectors[:, order]
    for k in range(3):  # equal up to sign
        dot = float(result.components[k] @ vectors[:, k])
        assert abs(dot) == pytest.approx(1.0, abs=1e-9)
    np.testing.assert_allclose(result.explained_variance_ratio, values[:3] / values.sum(),
                               rtol=1e-9)
    np.testing.assert_allclose(result.points, (x - x.mean(0)) @ result.components.T)
    np.testing.assert_allclose(result.points.var(axis=0, ddof=1), values[:3], rtol=1e-9)


def test_pca_sign_convention_is_deterministic():
    x = _cloud(seed=1)
    a, b = pca(x), pca(-x)  # -x has the same axes; an SVD may flip them
    np.testing.assert_allclose(a.components, b.components, atol=1e-12)
    np.testing.assert_allclose(a.points, -b.points, atol=1e-9)
    for row in a.components:
        assert row[np.argmax(np.abs(row))] > 0


def test_pca_of_few_points_pads_with_zeros():
    result = pca(np.array([[1.0, 2.0, 3.0]]), 2)
    assert result.points.shape == (1, 2) and not result.points.any()
    one_dim = pca(np.arange(5.0)[:, None], 2)
    assert one_dim.points.shape == (5, 2) and not one_dim.points[:, 1].any()
    with pytest.raises(ValueError, match="NaN or inf"):
        pca(np.array([[np.nan, 1.0]]))


def test_tsne_is_seeded_and_project_labels_axes():
    pytest.importorskip("sklearn")
    x = _cloud(40, 5)
    a, b = tsne(x, seed=3), tsne(x, seed=3)
    assert a.shape == (40, 2)
    np.testing.assert_array_equal(a, b)
    points, labels = project(x, "pca")
    assert labels[0].startswith("PC 1 (") and points.shape == (40, 2)
    with pytest.raises(ValueError, match="method must be one of pca, tsne"):
        project(x, "umap")


def test_ssl_detector_exposes_its_pooled_size():
    from curate.train.models import SSLDetector
    from curate.train.waveform_outputs import embedding_dim

    for pooling, dim in (("mean", 32), ("attentive", 64)):
        model = SSLDetector(arch="custom", arch_config=TINY_SSL, pooling=pooling).eval()
        assert embedding_dim(model) == dim
        x = torch.randn(2, 4000, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            embedded = model.embed(x, torch.tensor([4000, 3000]))
            assert embedded.shape == (2, dim)
            torch.testing.assert_close(model.head(embedded), model(x, torch.tensor([4000,
                                                                                   3000])))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A tiny CNN run (2 steps) on the tone selection: (db, run_id)."""
    from conftest import train_tiny_run

    db, run_id, _ = train_tiny_run(tmp_path_factory.mktemp("embed"))
    return db, run_id


def test_embeddings_are_what_the_head_sees(tiny_run, tmp_path):
    from curate.train.eval_run import load_run

    db, run_id = tiny_run
    seen = []
    frame = embed_run(CatalogRef(db), run_id, "sel", "all",
                      progress=lambda done, total: seen.append((done, total)))
    with open_catalog(db, read_only=True) as catalog:
        n_items = catalog.execute("SELECT count(*) FROM selection_items WHERE selection = "
                                  "'sel'").fetchone()[0]
        run = load_run(catalog, run_id)
        stored = catalog.df("SELECT utt_id, score FROM scores WHERE run_id = ? "
                            "AND eval_set = 'test' ORDER BY utt_id", [run_id])
    dim = run.model.embedding_dim
    assert dim == 2 * 16 * 8  # small_cnn, channels [8, 16], 32 mel bands
    assert len(frame) == n_items and frame["utt_id"].is_unique
    assert seen[-1] == (n_items, n_items)
    matrix = embedding_matrix(frame)
    assert matrix.shape == (n_items, dim)
    assert set(frame["label"]) == {"bonafide", "spoof"}
    assert set(frame["generator"].dropna()) == {"tones:g0", "tones:g1"}
    # the head on the embedding gives the run's own stored scores
    model = run.model.eval()
    with torch.no_grad():
        logits = model.head(torch.from_numpy(matrix).float())
    scores = dict(zip(frame["utt_id"], (logits[:, 1] - logits[:, 0]).double().numpy()))
    assert len(stored) > 0
    np.testing.assert_allclose([scores[u] for u in stored["utt_id"]], stored["score"],
                               atol=1e-4)
    # deterministic: a second call gives the same vectors
    again = embed_run(CatalogRef(db), run_id, "sel", "all")
    np.testing.assert_array_equal(embedding_matrix(again), matrix)
    # Parquet: one row per item, a fixed-size list of dim float32 values, metadata
    path = write_embeddings(frame, tmp_path / "e.parquet")
    table = pq.read_table(path)
    assert table.num_rows == n_items
    assert table.schema.field("embedding").type.list_size == dim
    assert table.schema.metadata[b"curate.run_id"].decode() == run_id
    back = read_embeddings(path)
    np.testing.assert_array_equal(embedding_matrix(back), matrix.astype(np.float32))
    assert back["utt_id"].tolist() == frame["utt_id"].tolist()
    assert back.attrs["embedding_dim"] == dim and back.attrs["eval_set"] == "sel"
    figure = plot_embeddings(back, tmp_path / "p.png", color_by="generator")
    assert figure.stat().st_size > 0
    with pytest.raises(ValueError, match="--color-by must be one of"):
        plot_embeddings(back, tmp_path / "q.png", color_by="speaker")


def test_embed_command(tiny_run, tmp_path, run_cli):
    db, run_id = tiny_run
    out, png = tmp_path / "emb" / "e.parquet", tmp_path / "emb" / "e.png"
    code, text, err = run_cli("embed", run_id, "--on", "sel", "--split", "test", "--db", db,
                              "--out", out, "--plot", png, "--color-by", "corpus")
    assert code == 0, err
    frame = read_embeddings(out)
    assert png.is_file() and f"{len(frame)} utterances x 256 dimensions" in text
    assert set(frame["split"]) == {"test"}
    code, _, err = run_cli("embed", run_id, "--on", "sel", "--db", db, "--out", out,
                           "--method", "umap")
    assert code != 0 and "--method must be one of pca, tsne" in err
    code, _, err = run_cli("embed", run_id, "--on", "sel", "--db", db, "--out", out,
                           "--color-by", "speaker")
    assert code != 0 and "--color-by must be one of" in err


def test_read_embeddings_errors_are_one_sentence(tmp_path):
    from curate.errors import CurateError

    with pytest.raises(CurateError, match="does not exist"):
        read_embeddings(tmp_path / "none.parquet")
    pd.DataFrame({"utt_id": ["a"]}).to_parquet(tmp_path / "x.parquet")
    with pytest.raises(CurateError, match="no 'embedding' column"):
        read_embeddings(tmp_path / "x.parquet")


def test_colour_by_generator_names_bonafide_rows():
    frame = pd.DataFrame({"label": ["bonafide", "spoof", "spoof"],
                          "generator": [None, "c:A01", None], "corpus": ["c", "c", None]})
    assert colour_values(frame, "generator").tolist()[:2] == ["bonafide", "c:A01"]
    assert pd.isna(colour_values(frame, "generator")[2])  # a spoof without a generator
    assert colour_values(frame, "label").tolist() == ["bonafide", "spoof", "spoof"]
    with pytest.raises(ValueError, match="--color-by must be one of label, corpus"):
        colour_values(frame, "speaker")
