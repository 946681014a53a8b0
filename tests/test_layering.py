"""Lower layers never import higher ones, not even inside a function (docs/architecture.md).

Every ``import curate.X`` / ``from curate.X import ...`` in the package is read from the
source (so imports inside functions count) and checked against the layer order below.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import curate

# Top-level packages and modules of curate, lowest first. A module may import modules of
# its own package and of lower layers only.
LAYERS: list[set[str]] = [
    {"errors"},
    {"names", "tomlfile", "threads", "progress", "batch", "catalog", "scale"},
    {"recipes"},
    {"audio"},
    {"select"},
    {"export"},
    {"augment", "shard"},
    {"train"},
    {"ablate", "benchmark", "bench", "bench_catalog"},
    {"demo"},
    {"cli"},
]
LEVEL = {name: i for i, layer in enumerate(LAYERS) for name in layer}
ROOT = Path(curate.__file__).parent


def _unit(path: Path) -> str:
    """The top-level package or module a source file belongs to."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return parts[0]


def _imports(path: Path) -> list[tuple[int, str]]:
    """``(line, imported top-level unit)`` of every absolute curate import in a file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
            if node.module == "curate":
                names = [f"curate.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        found += [(node.lineno, n.split(".")[1]) for n in names
                  if n.startswith("curate.") and n.count(".") >= 1]
    return found


SOURCES = sorted(ROOT.rglob("*.py"))


def test_every_unit_has_a_layer():
    units = {_unit(p) for p in SOURCES} - {"__init__"}
    assert units <= set(LEVEL), f"give these a layer in LAYERS: {sorted(units - set(LEVEL))}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_imports_a_higher_layer(path):
    own = _unit(path)
    if own == "__init__":
        return
    upward = [f"line {line}: curate.{unit} (layer {LEVEL[unit]}) from layer {LEVEL[own]}"
              for line, unit in _imports(path)
              if unit != own and unit in LEVEL and LEVEL[unit] >= LEVEL[own]]
    assert not upward, f"{path.relative_to(ROOT)} imports upward: {'; '.join(upward)}"
