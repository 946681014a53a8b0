"""``curate bench rawboost``: a tiny run, its JSON and its errors."""

from __future__ import annotations

import json

import pytest

from curate.bench import bench_rawboost

KEYS = {"name", "value", "unit", "baseline", "ratio"}


def test_bench_rawboost_returns_the_figures():
    result = bench_rawboost(5, 2, 0.5, "cpu", repeats=2, warmup=1)
    assert KEYS <= set(result)
    assert result["name"] == "rawboost_algo5_cpu" and result["unit"] == "clips/s"
    assert result["value"] > 0 and result["baseline"] > 0 and result["ratio"] > 0
    assert result["ratio"] == pytest.approx(result["value"] / result["baseline"])
    assert result["batch"] == 2 and result["threads"] == 1 and result["rtf"] > 0


def test_bench_rawboost_cli_prints_one_json_object(run_cli):
    code, out, err = run_cli("bench", "rawboost", "--algo", "3", "--batch", "2",
                             "--seconds", "0.5", "--repeats", "2", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert KEYS <= set(result) and result["ratio"] > 0 and result["algo"] == 3


def test_bench_rawboost_cli_human_output(run_cli):
    code, out, err = run_cli("bench", "rawboost", "--batch", "2", "--seconds", "0.25",
                             "--repeats", "1")
    assert code == 0, err
    assert "batched:" in out and "reference:" in out and "ratio:" in out


def test_bench_rawboost_names_an_unavailable_device(run_cli, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    code, _out, err = run_cli("bench", "rawboost", "--device", "cuda", "--batch", "2",
                              "--seconds", "0.25")
    assert code == 2 and "use device 'cpu'" in err
    code, _out, err = run_cli("bench", "rawboost", "--algo", "9", "--batch", "2")
    assert code == 2 and "algo must be one of 1-8" in err


def test_bench_select_small(tmp_path, run_cli):
    import json

    code, out, err = run_cli("bench", "select", "--rows", "3000", "--workdir", tmp_path,
                             "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["name"] == "select" and result["rows"] == 3000
    assert result["items"] > 0 and result["ratio"] > 0 and result["memory_ratio"] > 0
    assert result["baseline"] > 0 and result["unit"] == "s"


def test_bench_codec_cli_small(run_cli):
    code, out, err = run_cli("bench", "codec", "--batch", "2", "--seconds", "0.5", "--quick")
    assert code == 0, err
    assert "g711 batched:" in out and "codec mp3" in out


def test_bench_loader_and_sam_cli_small(run_cli):
    import json

    code, out, err = run_cli("bench", "loader", "--files", "3", "--seconds", "1",
                             "--crop-seconds", "0.5", "--epochs", "1", "--workers", "0",
                             "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["name"] == "loader" and result["value"] > 0 and result["ratio"] > 0
    code, out, err = run_cli("bench", "sam", "--batch", "2", "--seconds", "0.5", "--steps", "2")
    assert code == 0, err
    assert "SAM step" in out and "target <= 2.1x" in out


def test_bench_probe_cli_small(run_cli):
    import json

    code, out, err = run_cli("bench", "probe", "--files", "6", "--seconds", "0.5", "--jobs",
                             "2", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["name"] == "probe" and result["files"] == 6
    assert result["value"] > 0 and result["baseline"] > 0 and result["ratio"] > 0
