"""Reading a pretrained SSL checkpoint from a local path: a Hugging Face folder or a
fairseq checkpoint, to a torchaudio state dict and architecture.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from curate.train.models.checkpoint_files import read_safetensors, torch_load
from curate.train.models.fairseq_layout import read_fairseq
from curate.train.models.functional import PathLikeStr
from curate.train.models.hf_layout import read_hf_folder
from curate.train.models.ssl_arch import LAYOUT_HELP, PretrainedError


def read_pretrained(path: PathLikeStr, trust: bool = False
                    ) -> tuple[dict[str, Any], dict[str, torch.Tensor], str]:
    """Read a local SSL checkpoint: ``(arch or {}, state dict, layout)``.

    Layouts: ``huggingface`` (a folder), ``fairseq`` (a file with ``model`` and
    ``cfg``/``args``), ``torchaudio`` (a file holding a torchaudio ``Wav2Vec2Model``
    state dict; the architecture must then be named). The state dict still has the
    layout's own names (see :func:`hf_to_torchaudio`, :func:`fairseq_to_torchaudio`).
    """
    path = Path(path).expanduser()
    if path.is_dir():
        arch, state = read_hf_folder(path, trust)
        return arch, state, "huggingface"
    if not path.is_file():
        raise PretrainedError(f"pretrained checkpoint {path} does not exist; expected "
                              f"{LAYOUT_HELP}")
    if path.suffix == ".safetensors":
        return {}, read_safetensors(path), "torchaudio"
    blob = torch_load(path, trust)
    if isinstance(blob, dict) and "model" in blob and ("cfg" in blob or "args" in blob):
        arch, state = read_fairseq(path, trust)
        return arch, state, "fairseq"
    if isinstance(blob, dict) and blob and all(isinstance(v, torch.Tensor)
                                               for v in blob.values()):
        return {}, blob, "torchaudio"
    raise PretrainedError(f"cannot tell the layout of {path}; expected {LAYOUT_HELP}, or a "
                          "torchaudio Wav2Vec2Model state dict")
