"""SAM / ASAM on a small analytic problem; BatchNorm statistics; state; the loop with SAM."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch
from torch import nn

from curate.train.loop import TrainConfig, build_optimizer, train
from curate.train.sam import SAM, frozen_batchnorm_stats

# L(w) = 0.5 * sum(a * w^2): gradient a * w, everything in closed form.
A = torch.tensor([1.0, 4.0, 0.5, 2.0], dtype=torch.float64)
W0 = torch.tensor([1.0, -0.5, 2.0, 0.25], dtype=torch.float64)


def quadratic_loss(w: torch.Tensor) -> torch.Tensor:
    return 0.5 * (A * w * w).sum()


def fresh(adaptive: bool = False, rho: float = 0.1, lr: float = 0.2):
    w = nn.Parameter(W0.clone())
    return w, SAM([w], torch.optim.SGD, rho=rho, adaptive=adaptive, lr=lr)


def test_sam_ascent_and_descent_on_a_quadratic():
    rho, lr = 0.1, 0.2
    w, opt = fresh(rho=rho, lr=lr)
    quadratic_loss(w).backward()
    g = A * W0
    opt.first_step(zero_grad=True)
    e = rho * g / g.norm()
    torch.testing.assert_close(w.detach(), W0 + e, rtol=0, atol=1e-12)
    assert w.grad is None
    quadratic_loss(w).backward()  # gradient at w + e
    opt.second_step(zero_grad=True)
    expected = W0 - lr * A * (W0 + e)  # SGD from w with the perturbed gradient
    torch.testing.assert_close(w.detach(), expected, rtol=0, atol=1e-12)


def test_asam_perturbation_is_scaled_by_the_weights_and_differs_from_sam():
    rho = 0.1
    w, opt = fresh(adaptive=True, rho=rho)
    quadratic_loss(w).backward()
    g = A * W0
    opt.first_step()
    t = W0.abs()
    e = rho * t * t * g / (t * g).norm()  # rho * T_w^2 g / ||T_w g||
    torch.testing.assert_close(w.detach(), W0 + e, rtol=0, atol=1e-12)
    sam_e = rho * g / g.norm()
    assert not torch.allclose(e, sam_e)
    # ||T_w^{-1} e|| = rho: the neighbourhood is a ball in the |w|-scaled coordinates
    assert float((e / t).norm()) == pytest.approx(rho, rel=1e-12)


def test_asam_is_invariant_to_rescaling_weights_of_a_product_model():
    """f(u, v) = (u * v - 1)^2 is unchanged by (u, v) -> (c u, v / c); ASAM's perturbed
    loss is too, SAM's is not (the scale-invariance ASAM was made for)."""

    def perturbed_loss(u0: float, v0: float, adaptive: bool) -> float:
        u = nn.Parameter(torch.tensor(u0, dtype=torch.float64))
        v = nn.Parameter(torch.tensor(v0, dtype=torch.float64))
        opt = SAM([u, v], torch.optim.SGD, rho=0.05, adaptive=adaptive, lr=0.1)
        ((u * v - 1) ** 2).backward()
        opt.first_step(zero_grad=True)
        return float(((u * v - 1) ** 2).detach())

    c = 3.0
    assert perturbed_loss(0.5, 0.8, True) == pytest.approx(perturbed_loss(0.5 * c, 0.8 / c, True),
                                                           rel=1e-9)
    assert perturbed_loss(0.5, 0.8, False) != pytest.approx(
        perturbed_loss(0.5 * c, 0.8 / c, False), rel=1e-3)


def test_step_with_closure_equals_the_two_steps():
    w1, opt1 = fresh()
    w2, opt2 = fresh()
    for _ in range(3):
        quadratic_loss(w1).backward()
        opt1.first_step(zero_grad=True)
        quadratic_loss(w1).backward()
        opt1.second_step(zero_grad=True)

        quadratic_loss(w2).backward()

        def closure():
            loss = quadratic_loss(w2)
            loss.backward()
            return loss

        opt2.step(closure)
        opt2.zero_grad()
    assert torch.equal(w1.detach(), w2.detach())


def test_misuse_is_a_clear_error():
    w, opt = fresh()
    with pytest.raises(ValueError, match="closure"):
        opt.step()
    with pytest.raises(RuntimeError, match="without first_step"):
        opt.second_step()
    quadratic_loss(w).backward()
    opt.first_step()
    with pytest.raises(RuntimeError, match="twice"):
        opt.first_step()
    with pytest.raises(RuntimeError, match="between first_step and second_step"):
        opt.state_dict()
    with pytest.raises(ValueError, match="rho"):
        SAM([w], torch.optim.SGD, rho=0.0, lr=0.1)


def test_parameters_without_gradient_are_left_alone():
    a = nn.Parameter(torch.ones(2))
    b = nn.Parameter(torch.full((2,), 5.0))
    opt = SAM([a, b], torch.optim.SGD, rho=0.1, lr=0.1)
    (a * a).sum().backward()
    opt.first_step(zero_grad=True)
    assert torch.equal(b.detach(), torch.full((2,), 5.0))
    (a * a).sum().backward()
    opt.second_step(zero_grad=True)
    assert torch.equal(b.detach(), torch.full((2,), 5.0))


def test_batchnorm_statistics_are_not_updated_by_the_second_pass():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 1))
    opt = SAM(model.parameters(), torch.optim.SGD, rho=0.05, lr=0.1)
    x = torch.randn(8, 3)
    bn = model[1]
    model(x).pow(2).mean().backward()  # first pass: statistics move
    after_first = (bn.running_mean.clone(), bn.running_var.clone(),
                   bn.num_batches_tracked.clone())
    assert int(after_first[2]) == 1
    opt.first_step(zero_grad=True)
    with frozen_batchnorm_stats(model):
        out = model(x)
        out.pow(2).mean().backward()
    assert torch.equal(bn.running_mean, after_first[0])
    assert torch.equal(bn.running_var, after_first[1])
    assert torch.equal(bn.num_batches_tracked, after_first[2])
    assert bn.track_running_stats  # restored after the block
    # the second pass still normalised with the batch statistics (training behaviour)
    h = model[0](x)
    manual = (h - h.mean(0)) / torch.sqrt(h.var(0, unbiased=False) + bn.eps)
    with torch.no_grad():
        ref = model[3](torch.relu(manual * bn.weight + bn.bias))
    torch.testing.assert_close(out.detach(), ref, atol=1e-5, rtol=1e-5)
    opt.second_step(zero_grad=True)


def test_state_dict_round_trip_continues_identically():
    def run(steps_before: int, reload: bool) -> torch.Tensor:
        torch.manual_seed(0)
        model = nn.Linear(4, 2)
        opt = SAM(model.parameters(), torch.optim.AdamW, rho=0.05, lr=0.01)
        x, y = torch.randn(16, 4), torch.randint(0, 2, (16,))

        def step() -> None:
            nn.functional.cross_entropy(model(x), y).backward()
            opt.first_step(zero_grad=True)
            nn.functional.cross_entropy(model(x), y).backward()
            opt.second_step(zero_grad=True)

        for _ in range(steps_before):
            step()
        if reload:
            state = opt.state_dict()
            opt = SAM(model.parameters(), torch.optim.AdamW, rho=0.05, lr=0.01)
            opt.load_state_dict(state)
            assert opt.param_groups is opt.base_optimizer.param_groups
        for _ in range(3):
            step()
        return model.weight.detach().clone()

    assert torch.equal(run(2, False), run(2, True))


def test_build_optimizer_wraps_sam_and_schedules_reach_the_base():
    model = nn.Linear(3, 2)
    opt = build_optimizer(model, TrainConfig(sam=True, sam_rho=0.1, sam_adaptive=True,
                                             optimizer="sgd", lr=0.5))
    assert isinstance(opt, SAM) and isinstance(opt.base_optimizer, torch.optim.SGD)
    assert opt.param_groups[0]["rho"] == 0.1 and opt.param_groups[0]["adaptive"] is True
    for group in opt.param_groups:
        group["lr"] = 0.123
    assert all(g["lr"] == 0.123 for g in opt.base_optimizer.param_groups)


def test_training_with_sam_and_asam_learns(tmp_path):
    rng = np.random.default_rng(0)
    paths, labels = [], []
    for i in range(24):
        t = np.arange(8000) / 16000
        x = (0.3 * np.sin(2 * np.pi * 200 * t) if i % 2 else
             0.1 * np.sin(2 * np.pi * 4000 * t) + 0.05 * rng.standard_normal(t.size))
        path = tmp_path / f"{i}.wav"
        sf.write(path, x.astype(np.float32), 16000)
        paths.append(str(path))
        labels.append(i % 2)
    base = dict(model_kwargs={"channels": (8, 16), "n_mels": 32}, crop_seconds=0.4,
                batch_size=8, steps=25, lr=3e-3, warmup_steps=3, device="cpu", log_every=25)
    plain = train(TrainConfig(**base), paths, labels)
    for adaptive in (False, True):
        result = train(TrainConfig(**base, sam=True, sam_rho=0.05, sam_adaptive=adaptive),
                       paths, labels)
        assert len(result.losses) == 25 and np.isfinite(result.losses).all()
        assert np.mean(result.losses[-5:]) < 0.6 * np.mean(result.losses[:5])
        weights = result.model.state_dict()
        assert not all(torch.equal(weights[k], plain.model.state_dict()[k]) for k in weights)


def test_sam_step_cost_benchmark_reports_a_ratio():
    """Structure only: measured times and their ratio depend on the machine's load."""
    import math

    from curate.train.bench import bench_sam_step

    result = bench_sam_step(model_kwargs={"channels": (4,), "n_mels": 16}, batch=2,
                            seconds=0.25, steps=2, warmup=0, threads=1)
    assert result["name"] == "sam_step" and result["unit"] == "ms/step"
    for key in ("value", "baseline", "ratio"):
        assert math.isfinite(result[key]) and result[key] > 0, key
    assert result["ratio"] == pytest.approx(result["value"] / result["baseline"])
    assert result["target_max_ratio"] == 2.1 and result["lower_is_better"] is True
