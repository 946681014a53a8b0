"""Detectors: waveform ``(batch, time)`` + ``lengths`` -> logits ``(batch, 2)``.

Class index 1 is bonafide and index 0 is spoof, so the detection score (higher = more
bonafide) is ``logits[:, 1] - logits[:, 0]`` (:func:`bonafide_score`).

Every detector takes padded batches and is invariant to padding in eval mode: the
output for a row depends only on its first ``lengths[i]`` samples, never on how much
padding follows or what it contains. Batched scoring of clips of different durations
therefore equals scoring them one at a time.

Models are registered by name (:func:`register_model`) and built from plain keyword
arguments (:func:`build_model`), so an experiment config can name them and a
checkpoint can rebuild them.

Registered models:

- ``small_cnn`` (:class:`SmallCNN`): log-mel front end and a light CNN; trains on a CPU
  in minutes (the demo's and the tests' model).
- ``ssl`` (:class:`SSLDetector`): a wav2vec 2.0 / XLS-R / MMS / HuBERT backbone built
  with torchaudio, loaded from a local Hugging Face folder or fairseq checkpoint, then
  mean or attentive pooling and a linear head.
"""

from __future__ import annotations

from curate.train.models.checkpoint_files import (config_field, literal_layers,
                                                  read_safetensors, torch_load)
from curate.train.models.cnn import SmallCNN
from curate.train.models.fairseq_layout import (fairseq_cfg_to_arch, fairseq_from_blob,
                                                fairseq_normalize, fairseq_to_torchaudio,
                                                read_fairseq)
from curate.train.models.frontend import LogMelFrontEnd
from curate.train.models.functional import (PathLikeStr, bonafide_score, lengths_to_mask,
                                            masked_group_norm, masked_mean, masked_mean_max,
                                            num_frames)
from curate.train.models.hf_layout import (hf_config_to_arch, hf_normalize, hf_to_torchaudio,
                                           pos_conv_name, read_hf_folder)
from curate.train.models.pooling import POOLINGS, AttentivePooling
from curate.train.models.pretrained import Pretrained, read_pretrained
from curate.train.models.registry import (MODELS, build_model, count_parameters,
                                          model_argument_types, model_arguments,
                                          register_model, restore_kwargs)
from curate.train.models.ssl import NORMALIZE_EPS, SSLDetector, normalize_waveform
from curate.train.models.ssl_arch import (ARCH_KEYS, LAYOUT_HELP, SSL_ARCHS, PretrainedError,
                                          check_arch, ssl_arch)

__all__ = [
    "PathLikeStr",
    "lengths_to_mask",
    "num_frames",
    "masked_mean_max",
    "bonafide_score",
    "masked_group_norm",
    "masked_mean",
    "MODELS",
    "register_model",
    "model_arguments",
    "model_argument_types",
    "build_model",
    "restore_kwargs",
    "count_parameters",
    "LogMelFrontEnd",
    "SmallCNN",
    "SSL_ARCHS",
    "ARCH_KEYS",
    "LAYOUT_HELP",
    "PretrainedError",
    "ssl_arch",
    "check_arch",
    "read_safetensors",
    "torch_load",
    "config_field",
    "literal_layers",
    "hf_config_to_arch",
    "pos_conv_name",
    "hf_to_torchaudio",
    "hf_normalize",
    "read_hf_folder",
    "fairseq_cfg_to_arch",
    "fairseq_to_torchaudio",
    "fairseq_normalize",
    "fairseq_from_blob",
    "read_fairseq",
    "Pretrained",
    "read_pretrained",
    "AttentivePooling",
    "POOLINGS",
    "NORMALIZE_EPS",
    "normalize_waveform",
    "SSLDetector",
]
