"""``curate bench train``: what a training step of an SSL detector costs, measured.

One randomly initialised ``ssl`` model (wav2vec 2.0 Base size by default: 95M
parameters) and one batch of ``batch`` x ``seconds`` crops go through eight kinds of
step: fp32 or bf16 autocast, plain or SAM, with or without activation checkpointing of
the encoder. The kinds alternate round by round (so a shared machine's load weighs on
all of them alike); of ``steps`` timed rounds after ``warmup``, each kind's fastest step
is its figure (other jobs only add time; the medians are reported beside). Compared
from the same run: SAM step / plain step, checkpointed / plain, bf16 / fp32.

On a CPU shared with other jobs single steps vary several-fold, and even the fastest of
a few may never see a quiet moment: ``clock = "process"`` times the process's own CPU
time (``time.process_time``, all its threads) instead of the wall clock, which waiting
for a core does not inflate; use it with one thread (``threads = 1``: with more, a
thread that waits for a descheduled sibling may spin and count).

Memory, per precision and checkpointing (the same in a plain and a SAM step: the two
SAM passes run one after the other):

- ``saved_activations_mb`` (any device): the bytes of the distinct tensors the forward
  pass keeps for the backward pass, counted with
  ``torch.autograd.graph.saved_tensors_hooks`` over one extra forward (parameters and
  their autocast copies left out). This is what activation checkpointing reduces; the
  one layer it recomputes at a time during the backward pass is not in it.
- ``peak_step_mb`` (CUDA only): ``torch.cuda.max_memory_allocated`` during a step above
  what was allocated before it (the model and optimizer state): activations, gradients
  and the workspace together.

Targets (stated, never asserted by tests): SAM <= 2.1x a plain step; activation
checkpointing cuts saved activations >= 2x at <= 1.4x the step time.
"""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import torch
from torch.nn import functional as F

from curate.threads import torch_threads

__all__ = ["TINY_ARCH", "TARGETS", "CLOCKS", "bench_train", "saved_activation_bytes", "describe"]

#: A tiny ``custom`` architecture (2 layers of 64) for smoke tests of the benchmark:
#: the Base size's feature-extractor strides (50 frames per second), narrow layers.
TINY_ARCH: dict[str, Any] = dict(
    extractor_conv_layer_config=[(32, 10, 5)] + [(32, 3, 2)] * 4 + [(32, 2, 2)] * 2,
    encoder_embed_dim=64, encoder_pos_conv_kernel=16, encoder_pos_conv_groups=4,
    encoder_num_layers=2, encoder_num_heads=2, encoder_ff_interm_features=128,
)

#: The issue's targets: SAM step / plain step at most; checkpointed step time / plain at
#: most; saved activations plain / checkpointed at least.
TARGETS = {"sam_over_plain_max": 2.1, "checkpointed_time_max": 1.4,
           "activation_memory_cut_min": 2.0}

PRECISIONS = ("fp32", "bf16")

#: The step timers: wall-clock time, or this process's CPU time (all its threads).
CLOCKS: dict[str, Callable[[], float]] = {"wall": time.perf_counter,
                                          "process": time.process_time}


def _device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N' or 'auto', got {name!r}")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} is not available (torch sees no CUDA device); "
                         "use device 'cpu'")
    return torch.device(name)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _is_parameter_copy(t: torch.Tensor, parameters: set[int]) -> bool:
    """A parameter, or autocast's cast of one (its grad_fn leads straight to the leaf)."""
    if t.untyped_storage().data_ptr() in parameters:
        return True
    fn = t.grad_fn
    return (fn is not None and type(fn).__name__ == "ToCopyBackward0"
            and all(type(nxt).__name__ == "AccumulateGrad"
                    for nxt, _ in fn.next_functions if nxt is not None))


def saved_activation_bytes(forward: Callable[[], torch.Tensor], model: torch.nn.Module
                           ) -> int:
    """Bytes of the distinct storages that ``forward()`` saves for backward, parameters
    and their autocast copies left out; runs the backward pass of the returned loss
    (the gradients are left in ``model``)."""
    parameters = {p.untyped_storage().data_ptr() for p in model.parameters()}
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        if not _is_parameter_copy(t, parameters):
            storage = t.untyped_storage()
            storages[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = forward()
    loss.backward()
    return sum(storages.values())


def bench_train(arch: str = "wav2vec2_base", *, arch_config: dict[str, Any] | None = None,
                batch: int = 2, seconds: float = 4.0, steps: int = 3, warmup: int = 1,
                device: str = "cpu", precisions: Sequence[str] = PRECISIONS,
                threads: int | None = None, clock: str = "wall", rho: float = 0.05,
                seed: int = 0) -> dict[str, Any]:
    """Step time and memory of an SSL detector's training step, eight ways.

    Args:
        arch: the ``ssl`` model's size (``wav2vec2_base``, ... or ``custom`` with
            ``arch_config``, e.g. :data:`TINY_ARCH`); randomly initialised.
        batch, seconds: the batch: ``batch`` crops of ``seconds`` s at 16 kHz (noise).
        steps, warmup: timed rounds after untimed ones; a round runs every kind of
            step once.
        device: ``cpu``, ``cuda``, ``cuda:N`` or ``auto``.
        precisions: any of ``fp32`` and ``bf16`` (autocast).
        threads: torch CPU threads while it runs (None: as set).
        clock: ``wall`` (``time.perf_counter``) or ``process`` (the process's CPU
            time; CPU only, see the module doc).
        rho: SAM's neighbourhood size.

    Returns:
        dict: ``name`` "train_step", ``value`` (SAM ms/step, fp32 or the first
        precision, no checkpointing), ``baseline`` (plain ms/step, same), ``ratio``
        (every time and ratio from the fastest timed steps);
        ``steps_ms`` (``{precision: {"plain" | "sam": {"off" | "on": ms}}}``, "on" =
        activation checkpointing; the fastest timed step), ``median_ms`` (the same
        keys; medians, to show a shared machine's noise), ``memory`` (``{precision:
        {"off" | "on": {"saved_activations_mb", "peak_step_mb"}}}``), ``ratios`` (per
        precision:
        ``sam_over_plain``, ``sam_over_plain_checkpointed``, ``checkpointed_over_plain``
        (step time, plain steps), ``activation_memory_cut`` (saved activations, off /
        on), ``peak_memory_cut`` (CUDA); ``bf16_over_fp32`` per step kind when both
        precisions ran), ``targets`` and the set-up.
    """
    from curate.train.models import build_model, count_parameters
    from curate.train.sam import SAM, frozen_batchnorm_stats

    precisions = tuple(precisions)
    unknown = [p for p in precisions if p not in PRECISIONS]
    if not precisions or unknown:
        raise ValueError(f"precisions must be one or both of fp32, bf16; got "
                         f"{', '.join(precisions) or 'none'}")
    for name, value, low in (("batch", batch, 1), ("steps", steps, 1), ("warmup", warmup, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if not seconds > 0:
        raise ValueError(f"seconds must be > 0, got {seconds}")
    if clock not in CLOCKS:
        raise ValueError(f"clock must be 'wall' or 'process', got {clock!r}")
    dev = _device(device)
    if clock == "process" and dev.type == "cuda":
        raise ValueError("clock 'process' counts this process's CPU time, not the GPU's; "
                         "use clock 'wall' with a CUDA device")
    timer = CLOCKS[clock]
    with torch_threads(threads) as used, torch.random.fork_rng(
            devices=[dev.index or 0] if dev.type == "cuda" else []):
        torch.manual_seed(seed)
        model = build_model("ssl", sample_rate=16000, arch=arch,
                            arch_config=arch_config).to(dev).train()
        x = 0.1 * torch.randn(batch, round(seconds * 16000), device=dev)
        lengths = torch.full((batch,), x.shape[1], device=dev)
        y = torch.arange(batch, device=dev) % 2
        plain_opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
        sam_opt = SAM(model.parameters(), torch.optim.AdamW, rho=rho, lr=1e-5)

        def loss_fn(precision: str) -> torch.Tensor:
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
                logits = model(x, lengths)
            return F.cross_entropy(logits.float(), y)

        def plain_step(precision: str) -> None:
            loss_fn(precision).backward()
            plain_opt.step()
            plain_opt.zero_grad(set_to_none=True)

        def sam_step(precision: str) -> None:
            loss_fn(precision).backward()
            sam_opt.first_step(zero_grad=True)
            with frozen_batchnorm_stats(model):
                loss_fn(precision).backward()
            sam_opt.second_step(zero_grad=True)

        kinds = [(p, kind, ckpt) for p in precisions for kind in ("plain", "sam")
                 for ckpt in ("off", "on")]
        times: dict[tuple[str, str, str], list[float]] = {k: [] for k in kinds}
        peaks: dict[tuple[str, str], float] = {}
        for round_ in range(warmup + steps):
            for precision, kind, ckpt in kinds:
                model.activation_checkpointing = ckpt == "on"
                _sync(dev)
                if dev.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(dev)
                    before = torch.cuda.memory_allocated(dev)
                start = timer()
                (plain_step if kind == "plain" else sam_step)(precision)
                _sync(dev)
                elapsed = timer() - start
                if round_ >= warmup:
                    times[(precision, kind, ckpt)].append(elapsed)
                    if dev.type == "cuda":
                        peak = (torch.cuda.max_memory_allocated(dev) - before) / 2**20
                        peaks[(precision, ckpt)] = max(peaks.get((precision, ckpt), 0.0),
                                                       peak)
        memory: dict[str, dict[str, dict[str, float | None]]] = {}
        for precision in precisions:
            memory[precision] = {}
            for ckpt in ("off", "on"):
                model.activation_checkpointing = ckpt == "on"
                saved = saved_activation_bytes(partial(loss_fn, precision), model)
                model.zero_grad(set_to_none=True)
                memory[precision][ckpt] = {"saved_activations_mb": saved / 2**20,
                                           "peak_step_mb": peaks.get((precision, ckpt))}
        parameters = count_parameters(model)

    def per_kind(reduce: Callable[[list[float]], float]) -> dict[str, Any]:
        return {p: {kind: {ckpt: 1000 * reduce(times[(p, kind, ckpt)])
                           for ckpt in ("off", "on")} for kind in ("plain", "sam")}
                for p in precisions}

    steps_ms, median_ms = per_kind(min), per_kind(statistics.median)
    ratios: dict[str, Any] = {}
    for p in precisions:
        ms, mem = steps_ms[p], memory[p]
        ratios[p] = {
            "sam_over_plain": ms["sam"]["off"] / ms["plain"]["off"],
            "sam_over_plain_checkpointed": ms["sam"]["on"] / ms["plain"]["on"],
            "checkpointed_over_plain": ms["plain"]["on"] / ms["plain"]["off"],
            "activation_memory_cut": (mem["off"]["saved_activations_mb"]
                                      / mem["on"]["saved_activations_mb"]),
            "peak_memory_cut": (mem["off"]["peak_step_mb"] / mem["on"]["peak_step_mb"]
                                if mem["off"]["peak_step_mb"] else None),
        }
    if set(PRECISIONS) <= set(precisions):
        ratios["bf16_over_fp32"] = {kind: steps_ms["bf16"][kind]["off"]
                                    / steps_ms["fp32"][kind]["off"] for kind in ("plain", "sam")}
    first = precisions[0]
    plain_ms, sam_ms = steps_ms[first]["plain"]["off"], steps_ms[first]["sam"]["off"]
    return {
        "name": "train_step", "value": sam_ms, "unit": "ms/step", "baseline": plain_ms,
        "ratio": sam_ms / plain_ms, "lower_is_better": True, "steps_ms": steps_ms,
        "median_ms": median_ms,
        "memory": memory, "ratios": ratios, "targets": dict(TARGETS),
        "memory_measure": ("saved_activations_mb: distinct tensors saved for backward "
                           "(saved_tensors_hooks); peak_step_mb: CUDA max_memory_allocated "
                           "above the step's start"),
        "arch": arch, "arch_config": arch_config, "parameters": parameters,
        "batch": batch, "seconds": seconds, "steps": steps, "warmup": warmup,
        "precisions": list(precisions), "device": str(dev),
        "device_name": (torch.cuda.get_device_name(dev) if dev.type == "cuda"
                        else platform.processor() or platform.machine()),
        "threads": used, "clock": clock, "torch": torch.__version__,
    }


def describe(result: dict[str, Any]) -> str:
    """The benchmark's figures as a few lines of text."""
    lines = [f"train step: ssl {result['arch']} ({result['parameters'] / 1e6:.1f}M "
             f"parameters), batch {result['batch']} x {result['seconds']:g} s, "
             f"{result['device']} ({result['device_name']}, {result['threads']} thread(s)); "
             f"{result['clock']} clock, fastest of {result['steps']} step(s) (median)"]
    lines.append(f"{'precision':9s} {'step':5s} {'ms, no checkpointing':>22s} "
                 f"{'ms, checkpointing':>22s}")
    for p, kinds in result["steps_ms"].items():
        for kind, ms in kinds.items():
            med_off, med_on = (f"({result['median_ms'][p][kind][c]:.0f})"
                               for c in ("off", "on"))
            lines.append(f"{p:9s} {kind:5s} {ms['off']:10.0f} {med_off:>11s} "
                         f"{ms['on']:10.0f} {med_on:>11s}")
    for p, mem in result["memory"].items():
        peak = "" if mem["off"]["peak_step_mb"] is None else \
            f"; CUDA step peak {mem['off']['peak_step_mb']:.0f} MB plain, " \
            f"{mem['on']['peak_step_mb']:.0f} MB checkpointed"
        lines.append(f"{p}: saved activations {mem['off']['saved_activations_mb']:.0f} MB "
                     f"plain, {mem['on']['saved_activations_mb']:.0f} MB checkpointed{peak}")
    t = result["targets"]
    for p in result["memory"]:
        r = result["ratios"][p]
        peak = "" if r["peak_memory_cut"] is None else \
            f", peak memory cut {r['peak_memory_cut']:.2f}x"
        lines.append(f"{p}: SAM / plain {r['sam_over_plain']:.2f}x (checkpointed "
                     f"{r['sam_over_plain_checkpointed']:.2f}x; target <= "
                     f"{t['sam_over_plain_max']}x); checkpointed / plain step "
                     f"{r['checkpointed_over_plain']:.2f}x (target <= "
                     f"{t['checkpointed_time_max']}x); activation memory cut "
                     f"{r['activation_memory_cut']:.2f}x (target >= "
                     f"{t['activation_memory_cut_min']}x){peak}")
    if "bf16_over_fp32" in result["ratios"]:
        r = result["ratios"]["bf16_over_fp32"]
        lines.append(f"bf16 / fp32 step time: plain {r['plain']:.2f}x, SAM {r['sam']:.2f}x")
    return "\n".join(lines)
