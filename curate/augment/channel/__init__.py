"""Channel simulations as batched tensor transforms: telephone, band limits, bit depth,
sample-rate reduction, packet loss, gain and clipping.

Every transform works on a batch ``x`` of shape ``(batch, time)`` with ``lengths``
(valid samples per row) on any device, and follows the house pattern:

- a pure function does the work (:func:`telephone`, :func:`bandlimit`,
  :func:`bit_depth`, :func:`downsample`, :func:`packet_loss`, :func:`gain`,
  :func:`clip`), deterministic, with per-row arguments;
- a frozen settings dataclass (:class:`Telephone`, :class:`Bandlimit`, ...) holds the
  ranges, checks them (``ValueError`` naming the argument and the fix), draws
  per-row parameters with ``sample_params(batch, generator)`` and applies them with
  ``apply(x, lengths, params)``.

The draws are tensors on the generator's device (:class:`~curate.augment.drawn.StepParams`)
and ``apply`` uses them there: no value is read back to the host, no Python loop runs
over items. A choice among options (a G.711 law, a rate, a concealment) is an index
tensor; a step computes each option that can occur on the whole batch and keeps each
row's own with ``torch.where``. Indexing or iterating the params gives plain dicts
(JSON-ready, loggable; one transfer to the host), and ``apply`` replays such dicts.

Samples past a row's length are ignored and come back as zeros. Filters are linear
phase and compensated (zero delay), so outputs stay time-aligned with inputs.

One job per module:

=================  =====================================================================
``rows``           row helpers: zeros past each row's length, per-row argument tensors
``fir``            :func:`fir_lowpass` (windowed-sinc design), :func:`fir_filter` (FFT)
``resample``       cached torchaudio resampling, filter margins, :func:`downsample`
``band``           :func:`telephone`, :func:`bandlimit`
``packets``        :func:`packet_loss` (counter-based drops, concealment)
``level``          :func:`bit_depth`, :func:`gain`, :func:`clip`
``checks``         checks of the steps' settings
``draws``          the steps' per-row draws on the generator's device
``step``           the steps' base: settings, ``sample_params``, ``apply``, replay
``steps``          :class:`G711Step`, :class:`Telephone`, ... and :data:`TENSOR_STEPS`
=================  =====================================================================
"""

from __future__ import annotations

from curate.augment.channel.band import bandlimit, telephone
from curate.augment.channel.fir import fir_filter, fir_lowpass
from curate.augment.channel.level import bit_depth, clip, gain
from curate.augment.channel.packets import packet_loss
from curate.augment.channel.resample import downsample
from curate.augment.channel.steps import (TENSOR_STEPS, Bandlimit, BitDepth, Clip, Downsample,
                                          G711Step, Gain, PacketLoss, Telephone)

__all__ = [
    "fir_lowpass",
    "fir_filter",
    "telephone",
    "bandlimit",
    "bit_depth",
    "downsample",
    "packet_loss",
    "gain",
    "clip",
    "G711Step",
    "Telephone",
    "Bandlimit",
    "BitDepth",
    "Downsample",
    "PacketLoss",
    "Gain",
    "Clip",
    "TENSOR_STEPS",
]
