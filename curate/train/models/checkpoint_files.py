"""Reading checkpoint files from disk: safetensors (parsed directly), torch pickles
(``weights_only`` unless trusted), and config fields of either layout.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from curate.train.models.functional import PathLikeStr
from curate.train.models.ssl_arch import PretrainedError


def read_safetensors(path: PathLikeStr) -> dict[str, torch.Tensor]:
    """Tensors of a ``.safetensors`` file (the format is a JSON header and raw bytes;
    read here without the safetensors package)."""
    import json as _json

    dtypes = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16,
              "BF16": torch.bfloat16, "I64": torch.int64, "I32": torch.int32,
              "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool}
    raw = Path(path).read_bytes()
    if len(raw) < 8:
        raise PretrainedError(f"{path} is too short to be a safetensors file")
    size = int.from_bytes(raw[:8], "little")
    try:
        header = _json.loads(raw[8 : 8 + size])
    except ValueError as exc:
        raise PretrainedError(f"{path}: unreadable safetensors header ({exc})") from None
    base = 8 + size
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] not in dtypes:
            raise PretrainedError(f"{path}: tensor {name} has unsupported dtype {info['dtype']}")
        start, end = info["data_offsets"]
        buffer = bytearray(raw[base + start : base + end])
        tensor = torch.frombuffer(buffer, dtype=dtypes[info["dtype"]]) if buffer else \
            torch.empty(0, dtype=dtypes[info["dtype"]])
        out[name] = tensor.reshape(info["shape"]).clone()
    return out


def torch_load(path: Path, trust: bool) -> Any:
    """``torch.load`` without running code (argparse.Namespace allowed: old fairseq
    checkpoints keep their arguments in one); ``trust`` allows full unpickling."""
    import argparse

    if trust:
        return torch.load(path, map_location="cpu", weights_only=False)
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a pickle that needs code to load
        raise PretrainedError(
            f"cannot read {path} without running code from it ({str(exc).splitlines()[0]}); "
            "if the file comes from a source you trust, set trust_checkpoint = true in "
            "[model]"
        ) from None


def config_field(cfg: Any, key: str, default: Any = None) -> Any:
    if cfg is None:
        return default
    if isinstance(cfg, dict):
        return cfg.get(key, default)
    return getattr(cfg, key, default)


def literal_layers(text: str) -> list[tuple[int, int, int]]:
    """fairseq's ``conv_feature_layers`` expression, e.g. ``"[(512, 10, 5)] + [(512, 3,
    2)] * 4"``, evaluated safely (lists, tuples, ints, + and *)."""
    import ast

    def ev(node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, (ast.List, ast.Tuple)):
            items = [ev(e) for e in node.elts]
            return items if isinstance(node, ast.List) else tuple(items)
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mult)):
            left, right = ev(node.left), ev(node.right)
            return left + right if isinstance(node.op, ast.Add) else left * right
        raise ValueError(f"unsupported expression element {ast.dump(node)}")

    try:
        layers = ev(ast.parse(str(text), mode="eval"))
    except (SyntaxError, ValueError) as exc:
        raise PretrainedError(f"cannot read conv_feature_layers {text!r}: {exc}") from None
    return [tuple(int(v) for v in layer[:3]) for layer in layers]
