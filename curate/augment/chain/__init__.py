"""Augmentation chains: one TOML file for offline augmentation, previews and training.

```toml
sample_rate = 16000
seed = 11
[[step]]
name = "rawboost"   # rawboost, codec, preset, g711, telephone, bandlimit, bit_depth,
p = 0.5             # downsample, packet_loss, gain, clip, neural_codec,
algo = 5            # audiomentations.<Transform>
[[step]]
name = "codec"
p = 0.5
codecs = ["mp3", "opus", "g711_mu"]
```

**Two stages.** Steps that need CPU libraries (``codec``, ``preset``,
``audiomentations.*``) are *CPU steps*: they run per utterance in the DataLoader
workers (:meth:`Chain.cpu_stage`, numpy in and out). Tensor steps (``rawboost``,
``g711``, ``telephone``, ``bandlimit``, ``bit_depth``, ``downsample``,
``packet_loss``, ``gain``, ``clip``, ``neural_codec``) are *device steps*: they run
once per batch on the training device (:meth:`Chain.device_stage`). Each stage runs
its steps in file order; **all CPU steps run before all device steps**. A chain that
lists a device step before a CPU step is run in that stage order anyway
(``Chain.reordered`` is then True and ``Chain.notes`` says so); to keep a tensor step
before a CPU step, give it ``stage = "cpu"``: it then runs in the worker on the one
utterance, with the same implementation. :meth:`Chain.apply_offline` (``curate
augment``, previews) runs exactly the two stages training runs, so a preview shows
what training sees.

**Randomness.** ``p`` (default 1) is the probability that a step touches an utterance,
drawn per utterance: from ``rng`` (a ``numpy.random.Generator``) in the CPU stage and
from ``generator`` (a ``torch.Generator``, best on the training device) in the device
stage. Every step draws its parameters from the same source, so a chain, a seed and
the order of calls give the same output; :func:`utterance_rng` and
:func:`batch_generator` derive those sources from ``(seed, epoch, index)``. Each
utterance's applied steps are returned as ``[{"step": name, "params": {...}}]`` (plain
JSON data) for the ``augment_log`` table (:func:`curate.augment.log.write_augment_log`).

**No host round trips in the device stage.** Device steps draw their parameters for
every row as tensors on the generator's device, run on the whole batch and keep their
result where ``u < p`` (``torch.where``); nothing is read back to the host. The log
(:class:`AppliedSteps`) is copied to the host in one transfer when it is first read,
and never when augmentation is not logged.

One job per module:

================  =====================================================================
``parse``         the chain file: :func:`parse_chain`, :func:`load_chain`
``build``         a step's runner from its TOML settings; ``STEP_NAMES``
``errors``        :class:`ChainError`
``runners``       how tensor, codec, preset and audiomentations steps run
``step``          :class:`Step`, one step of a chain
``pipeline``      :class:`Chain`: its steps and its two stages
``cpu_stage``     the CPU stage on one utterance
``device_stage``  the device stage on a batch
``applied``       :class:`AppliedSteps`, the device stage's lazily copied log
``seeds``         :func:`utterance_rng`, :func:`batch_generator`
``json_data``     :func:`jsonable`: plain JSON data for the logs
================  =====================================================================
"""

from __future__ import annotations

from curate.augment.chain.applied import AppliedSteps
from curate.augment.chain.build import STEP_NAMES
from curate.augment.chain.errors import ChainError
from curate.augment.chain.json_data import jsonable
from curate.augment.chain.parse import load_chain, parse_chain
from curate.augment.chain.pipeline import Chain
from curate.augment.chain.seeds import batch_generator, utterance_rng
from curate.augment.chain.step import Step

__all__ = ["ChainError", "Step", "Chain", "AppliedSteps", "load_chain", "parse_chain",
           "utterance_rng", "batch_generator", "STEP_NAMES", "jsonable"]
