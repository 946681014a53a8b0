"""`curate shard --engine ray`: Ray workers run the same shard writer, the folder equals
the process pool's (index, manifest, every tar's members and bytes), an interrupted run
resumes, and a worker that cannot see the folder stops the run in one sentence. The
test starts its own local Ray instance with 2 CPUs."""

from __future__ import annotations

import json
import pickle
import tarfile
from pathlib import Path

import pyarrow as pa
import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")

from conftest import make_tone_selection  # noqa: E402

from curate.catalog.db import CatalogRef  # noqa: E402
from curate.errors import CurateError  # noqa: E402
from curate.shard import ray_writer as ray_shard  # noqa: E402
from curate.shard import plan_shards, shard_selection  # noqa: E402
from curate.shard.plan import ShardSize  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:.*deprecated:DeprecationWarning")  # Ray Data


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False)
    yield ray
    ray.shutdown()


@pytest.fixture
def tones(tmp_path):
    """A probed tone catalog with a frozen selection 'sel' (16 train, 8 test items)."""
    make_tone_selection(tmp_path)
    return CatalogRef(tmp_path / "c.duckdb"), tmp_path


def _members(tar: Path) -> list[tuple[str, bytes]]:
    with tarfile.open(tar) as f:
        return [(m.name, f.extractfile(m).read()) for m in f.getmembers()]


def _assert_same_folder(a: Path, b: Path) -> None:
    """Two shard folders hold the same shards, index and manifest (but its command)."""
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert json.loads((a / "index.json").read_text()) == \
        json.loads((b / "index.json").read_text())
    manifests = [json.loads((d / "manifest.json").read_text()) for d in (a, b)]
    for manifest in manifests:
        assert manifest.pop("command").startswith("curate shard sel --out ")
    assert manifests[0] == manifests[1]
    tars = [f for f in files if f.suffix == ".tar"]
    assert len(tars) == 9
    for tar in tars:
        members = _members(a / tar)
        assert members == _members(b / tar) and len(members) in (2, 4, 6)  # 1-3 items
        assert (a / tar).read_bytes() == (b / tar).read_bytes()


def test_ray_writes_the_pool_engines_shards(local_ray, tones):
    source, tmp_path = tones
    pool = shard_selection(source, "sel", tmp_path / "pool", shard_size="3", jobs=2)
    calls: list[tuple[int, int]] = []
    from_ray: list[str] = []
    runner = ray_shard.ray_runner()

    def run(tasks: list[tuple], jobs: int):
        for entry in runner(tasks, jobs):  # every entry comes back from a Ray task
            from_ray.append(entry["name"])
            yield entry

    on_ray = shard_selection(source, "sel", tmp_path / "ray", shard_size="3", jobs=2,
                             run=run, progress=lambda done, total: calls.append((done, total)))
    assert (on_ray.written, on_ray.reused, on_ray.shards) == (pool.written, 0, 9)
    assert len(set(from_ray)) == len(from_ray) == 9
    _assert_same_folder(tmp_path / "pool", tmp_path / "ray")
    assert calls[0] == (0, 24) and calls[-1] == (24, 24) and len(calls) == 10  # per shard
    assert not (tmp_path / "ray" / ".index.jsonl").exists()


def test_ray_resumes_an_interrupted_run(local_ray, tones):
    source, tmp_path = tones
    out = tmp_path / "resumed"

    def stop_after_two_shards(done: int, total: int) -> None:
        if done >= 6:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        shard_selection(source, "sel", out, shard_size="3", progress=stop_after_two_shards)
    finished = [json.loads(line)["name"]
                for line in (out / ".index.jsonl").read_text().splitlines()]
    before = {n: (out / n).stat().st_mtime_ns for n in finished}
    summary = shard_selection(source, "sel", out, shard_size="3", jobs=2,
                              run=ray_shard.ray_runner())
    assert (summary.reused, summary.written, summary.shards) == (2, 7, 9)
    assert {n: (out / n).stat().st_mtime_ns for n in finished} == before  # not rewritten
    shard_selection(source, "sel", tmp_path / "pool", shard_size="3")
    _assert_same_folder(tmp_path / "pool", out)
    again = shard_selection(source, "sel", out, shard_size="3", run=ray_shard.ray_runner())
    assert (again.reused, again.written) == (9, 0)


def test_cli_shard_on_ray_and_option_errors(local_ray, tones, run_cli):
    _, tmp_path = tones
    db = tmp_path / "c.duckdb"
    code, out, err = run_cli("shard", "sel", "--out", tmp_path / "cli", "--shard-size", "3",
                             "--db", db, "--engine", "ray", "-j", "2")
    assert code == 0, err
    assert "9 shards written" in " ".join(out.split())
    assert len(json.loads((tmp_path / "cli" / "index.json").read_text())["shards"]) == 9
    code, _, err = run_cli("shard", "sel", "--out", tmp_path / "x", "--db", db,
                           "--address", "auto")
    assert code != 0 and "--address only applies to --engine ray" in err
    code, _, err = run_cli("shard", "sel", "--out", tmp_path / "x", "--db", db,
                           "--engine", "spark")
    assert code != 0 and "--engine is 'spark'" in err


def test_a_folder_a_worker_cannot_see_is_one_sentence(tmp_path):
    rows = [{"utt_id": "c:a", "split": "train", "abspath": str(tmp_path / "a.wav"),
             "sample_rate": 16000, "channels": 1, "duration_s": 1.0}]
    shard = plan_shards(rows, ShardSize(items=1), fmt="flac", sample_rate=None, seed=0)[0]
    task = (shard, str(tmp_path / "not-mounted"), "flac", None)
    table = pa.table({"name": [shard.name], "task": [pickle.dumps(task)]})
    with pytest.raises(CurateError, match=r"not-mounted is not a folder on Ray worker .*; "
                                          r"put --out on storage every node shares"):
        ray_shard.write_shard_tasks(table)
    entry = {"name": shard.name, "bytes": 10}
    with pytest.raises(CurateError, match="which this machine does not see as written"):
        ray_shard._check_visible(tmp_path, entry)
