"""The device stage stays on the device: no value is read back while augmenting, the log
is copied in one transfer when read, and only then.

On the CPU the host reads are caught by patching the tensor methods that copy values to
the host (``item``, ``tolist``, ``cpu``, ``numpy``, ``float()``, ``int()``) to raise; on
CUDA by ``torch.cuda.set_sync_debug_mode("error")``. ``bool(tensor)`` and
``operator.index`` are left alone: the batch check reads CPU ``lengths`` to reject bad
ones (on an accelerator it clamps them instead), and torchaudio's resampler slices with
a length it computes as a CPU tensor from host numbers; the CUDA test covers both.
"""

from __future__ import annotations

import contextlib
import json
import textwrap
from collections import Counter

import pytest
import torch

from curate.augment import rawboost as rb
from curate.augment.chain.applied import AppliedSteps
from curate.augment.chain.parse import load_chain
from curate.augment.chain.seeds import batch_generator
from curate.augment.channel.steps import TENSOR_STEPS
from curate.augment.codec import g711

SR = 16000
HOST_READS = ("item", "tolist", "cpu", "numpy", "__float__", "__int__")


@pytest.fixture(scope="module", autouse=True)
def _one_thread(one_torch_thread_module):
    yield


@contextlib.contextmanager
def host_reads(refuse: bool = True):
    """Patch the host-read methods of ``torch.Tensor``: raise (``refuse``) or count calls.

    Yields the Counter of calls by method name.
    """
    calls: Counter = Counter()
    saved = {name: getattr(torch.Tensor, name) for name in HOST_READS}

    def patched(name):
        original = saved[name]

        def method(self, *args, **kwargs):
            if refuse:
                raise AssertionError(f"the device stage called Tensor.{name} (a host read)")
            calls[name] += 1
            return original(self, *args, **kwargs)
        return method

    try:
        for name in HOST_READS:
            setattr(torch.Tensor, name, patched(name))
        yield calls
    finally:
        for name, method in saved.items():
            setattr(torch.Tensor, name, method)


def _chain(tmp_path, steps: str):
    path = tmp_path / "chain.toml"
    path.write_text(textwrap.dedent(steps))
    return load_chain(path)


def _batch(rows: int = 6, time: int = 6000, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    x = 0.2 * torch.randn(rows, time, generator=gen)
    lengths = torch.tensor([time, time - 1000, 2500, 700, time, 1][:rows])
    return x * (torch.arange(time) < lengths[:, None]), lengths


def test_the_patch_catches_host_reads():
    t = torch.ones(3)
    for read in (lambda: t.sum().item(), lambda: t.tolist(), lambda: t.cpu(),
                 lambda: float(t[0]), lambda: int(t[0]), lambda: t.numpy()):
        with host_reads(), pytest.raises(AssertionError, match="host read"):
            read()


@pytest.mark.parametrize("algo", range(1, 9))
def test_rawboost_draws_and_applies_without_host_reads(algo, tmp_path):
    x, lengths = _batch(seed=algo)
    with host_reads():
        y, params = rb.rawboost(x, lengths, algo, torch.Generator().manual_seed(algo))
    assert torch.isfinite(y).all()
    # the same in a chain (p < 1: every row drawn and computed, kept where chosen)
    chain = _chain(tmp_path, f"""
        [[step]]
        name = "rawboost"
        p = 0.5
        algo = {algo}
        """)
    for key in range(20):   # the first batch where some rows are touched and some not
        with host_reads():
            z, applied = chain.device_stage(x, lengths, batch_generator(3, key, algo))
        assert isinstance(applied, AppliedSteps)
        rows = applied.to_list()
        touched = [i for i, steps in enumerate(rows) if steps]
        if 0 < len(touched) < 6:
            break
    assert 0 < len(touched) < 6
    for i in range(6):
        if i not in touched:
            assert torch.equal(z[i], x[i])
    # the log replays the rows it names
    items = [rows[i][0]["params"] for i in touched]
    assert all(item["max_taps"] == 101 for item in items if "lnl" in item or "ssi" in item)
    index = torch.tensor(touched)
    replay = rb.apply(x[index], lengths[index], json.loads(json.dumps(items)))
    torch.testing.assert_close(replay, z[index], rtol=0, atol=1e-6)


STEP_SETTINGS = {
    "g711": {"law": ["mu", "a"]},
    "telephone": {"law": ["mu", "a", "none"]},
    "downsample": {"rates": [4000, 8000, 11025]},
    "packet_loss": {"conceal": ["zero", "repeat"]},
}


@pytest.mark.parametrize("name", sorted(TENSOR_STEPS))
def test_channel_steps_draw_and_apply_without_host_reads(name):
    step = TENSOR_STEPS[name](sample_rate=SR, **STEP_SETTINGS.get(name, {}))
    x, lengths = _batch(rows=6, time=4000, seed=1)
    gen = torch.Generator().manual_seed(7)
    with host_reads():
        params = step.sample_params(6, gen)
        y = step.apply(x, lengths, params)
    assert y.shape == x.shape and torch.isfinite(y).all()
    # the tensors give the plain dicts the step logged before, and those replay exactly
    items = json.loads(json.dumps(params.to_list()))
    assert len(items) == 6 and set(items[0]) == set(step.keys_)
    assert torch.equal(step.apply(x, lengths, items), y)


def test_downsample_hold_and_a_single_law_stay_on_the_device():
    x, lengths = _batch(rows=4, time=3000, seed=2)
    for step in (TENSOR_STEPS["downsample"](sample_rate=SR, method="hold"),
                 TENSOR_STEPS["telephone"](sample_rate=SR, law="none"),
                 TENSOR_STEPS["packet_loss"](sample_rate=SR, conceal="repeat")):
        with host_reads():
            y = step.apply(x, lengths, step.sample_params(4, torch.Generator().manual_seed(0)))
        assert torch.isfinite(y).all()


def test_g711_takes_per_row_laws_as_a_tensor():
    x, lengths = _batch(rows=3, time=500)
    with host_reads():
        y = g711(x, torch.tensor([False, True, False]), lengths)
    assert torch.equal(y, g711(x, ["mu", "a", "mu"], lengths))


CHAIN = """
    [[step]]
    name = "rawboost"
    p = 0.5
    algo = 5
    [[step]]
    name = "telephone"
    p = 0.5
    law = ["mu", "a", "none"]
    [[step]]
    name = "packet_loss"
    p = 0.7
    conceal = ["zero", "repeat"]
    [[step]]
    name = "gain"
    p = 0.5
    [[step]]
    name = "g711"
    p = 1.0
    law = ["mu", "a"]
    """


def test_a_chain_logs_nothing_until_read_then_in_one_transfer(tmp_path):
    chain = _chain(tmp_path, CHAIN)
    x, lengths = _batch(rows=6, time=5000, seed=4)
    with host_reads():                                   # logging off: never read
        y, applied = chain.device_stage(x, lengths, batch_generator(1, 2, 3))
    with host_reads(refuse=False) as calls:              # logging on: read once
        rows = applied.to_list()
        again = [list(applied[i]) for i in range(len(applied))]
    assert calls == Counter({"cpu": 1, "numpy": 1}), calls   # one copy, viewed as numpy
    assert rows == again and len(rows) == 6
    json.dumps(rows)
    assert all(steps[-1]["step"] == "g711" for steps in rows)
    names = {s["step"] for steps in rows for s in steps}
    assert {"rawboost", "telephone", "packet_loss", "gain", "g711"} >= names >= {"g711"}
    # same seed, same output and log; another seed, another output
    y2, applied2 = chain.device_stage(x, lengths, batch_generator(1, 2, 3))
    assert torch.equal(y, y2) and applied2 == rows
    y3, _ = chain.device_stage(x, lengths, batch_generator(1, 2, 4))
    assert not torch.equal(y, y3)


def test_the_log_replays_the_chain_row_by_row(tmp_path):
    chain = _chain(tmp_path, CHAIN)
    x, lengths = _batch(rows=6, time=5000, seed=5)
    y, applied = chain.device_stage(x, lengths, batch_generator(0, 0, 0))
    steps = {s.name: s.runner.transform for s in chain.device_steps}
    for i, row in enumerate(applied):
        z, n = x[i:i + 1], lengths[i:i + 1]
        for entry in row:
            z = steps[entry["step"]].apply(z, n, [entry["params"]])
        torch.testing.assert_close(z[0], y[i], rtol=0, atol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_device_stage_never_synchronises(tmp_path):
    chain = _chain(tmp_path, CHAIN + """
    [[step]]
    name = "downsample"
    p = 0.5
    rates = [8000, 11025]
    [[step]]
    name = "bandlimit"
    [[step]]
    name = "bit_depth"
    p = 0.5
    [[step]]
    name = "clip"
    p = 0.5
    """)
    x, lengths = _batch(rows=6, time=16000, seed=6)
    x, lengths = x.cuda(), lengths.cuda()
    # warm-up: G.711 tables and resampling kernels are made once per device
    chain.device_stage(x, lengths, torch.Generator("cuda").manual_seed(0))
    generators = [torch.Generator("cuda").manual_seed(k) for k in range(10)]
    torch.cuda.synchronize()
    previous = torch.cuda.get_sync_debug_mode()
    torch.cuda.set_sync_debug_mode("error")
    try:
        y, applied = chain.device_stage(x, lengths, generators[9])
        for algo in range(1, 9):
            rb.rawboost(x, lengths, algo, generators[algo])
    finally:
        torch.cuda.set_sync_debug_mode(previous)
    assert y.device.type == "cuda" and torch.isfinite(y).all()
    rows = applied.to_list()                             # one transfer, after the step
    assert len(rows) == 6 and all(steps for steps in rows)
