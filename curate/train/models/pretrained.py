"""Reading a pretrained SSL checkpoint from a local path: a Hugging Face folder or a
fairseq checkpoint, to a torchaudio state dict, architecture and waveform normalisation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import torch

from curate.train.models.checkpoint_files import read_safetensors, torch_load
from curate.train.models.fairseq_layout import fairseq_from_blob
from curate.train.models.functional import PathLikeStr
from curate.train.models.hf_layout import hf_normalize, read_hf_folder
from curate.train.models.ssl_arch import LAYOUT_HELP, PretrainedError


class Pretrained(NamedTuple):
    """A pretrained checkpoint as read from disk.

    arch: ``wav2vec2_model`` arguments, or {} where the file does not describe them.
    state: the state dict, still in the layout's own names (see
        :func:`~curate.train.models.hf_layout.hf_to_torchaudio`,
        :func:`~curate.train.models.fairseq_layout.fairseq_to_torchaudio`).
    layout: ``huggingface``, ``fairseq`` or ``torchaudio``.
    normalize: whether the model was trained on waveforms normalised per utterance
        (zero mean, unit variance): ``do_normalize`` of a Hugging Face
        ``preprocessor_config.json``, fairseq's ``task.normalize`` (old: ``args.normalize``);
        None where the files do not say.
    """

    arch: dict[str, Any]
    state: dict[str, torch.Tensor]
    layout: str
    normalize: bool | None


def read_pretrained(path: PathLikeStr, trust: bool = False) -> Pretrained:
    """Read a local SSL checkpoint (:class:`Pretrained`).

    Layouts: ``huggingface`` (a folder), ``fairseq`` (a file with ``model`` and
    ``cfg``/``args``), ``torchaudio`` (a file holding a torchaudio ``Wav2Vec2Model``
    state dict; the architecture must then be named). A file is read once.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        arch, state = read_hf_folder(path, trust)
        return Pretrained(arch, state, "huggingface", hf_normalize(path))
    if not path.is_file():
        raise PretrainedError(f"pretrained checkpoint {path} does not exist; expected "
                              f"{LAYOUT_HELP}")
    if path.suffix == ".safetensors":
        return Pretrained({}, read_safetensors(path), "torchaudio", None)
    blob = torch_load(path, trust)
    if isinstance(blob, dict) and "model" in blob and ("cfg" in blob or "args" in blob):
        arch, state, normalize = fairseq_from_blob(blob, str(path))
        return Pretrained(arch, state, "fairseq", normalize)
    if isinstance(blob, dict) and blob and all(isinstance(v, torch.Tensor)
                                               for v in blob.values()):
        return Pretrained({}, blob, "torchaudio", None)
    raise PretrainedError(f"cannot tell the layout of {path}; expected {LAYOUT_HELP}, or a "
                          "torchaudio Wav2Vec2Model state dict")
