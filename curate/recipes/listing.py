"""The table of built-in corpora (docs/corpora.md is generated from the recipes)."""

from __future__ import annotations

from curate.recipes.spec import builtin_corpus_recipes, load_recipe

HEADER = """# Corpora

Every built-in corpus recipe: `curate prepare NAME ROOT` reads the corpus from ROOT, the
folder as unpacked. This page is generated from the recipe files
(`curate corpora --markdown > docs/corpora.md`); a test keeps it in sync.

Labels: `bonafide` / `spoof`, with the corpus's own word in `label_raw`; generators are
namespaced `corpus:ID`; languages are ISO 639-3. Restored and copy-synthesised speech
follows `--restored-as` (default spoof), see [recipes.md](recipes.md).

`sources` are the corpora a corpus's audio derives from (its lineage, for leakage
control); `AntiDeepfake` says which of its subsets the AntiDeepfake post-training set
(Ge et al. 2025) trains and validates on (`*`: every row; see
`recipes/builds/antideepfake.toml`); `checked` says whether a test reads a real
metadata file of the corpus (from `../shared/realdata`, skipped where absent) or the
recipe follows the corpus's documentation only.
"""


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def usage_cell(recipe, mix: str = "antideepfake") -> str:
    """``train: train, eval; valid: dev`` for a recipe a training mix uses, else ``-``."""
    usage = recipe.usage(mix)
    if usage is None:
        return "-"
    parts = [f"{split}: {', '.join(subsets)}" for split, subsets in
             (("train", usage.train), ("valid", usage.valid)) if subsets]
    name = f"{usage.database} " if usage.database else ""
    return _cell(f"{name}({'; '.join(parts)})")


def corpora_markdown() -> str:
    """Markdown: one table row per built-in recipe, then the generic ones."""
    lines = [HEADER, "| corpus | kind | languages | sources | AntiDeepfake | checked | ROOT | "
                     "licence | obtain | notes |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name in builtin_corpus_recipes():
        recipe = load_recipe(name)
        title = f"[{_cell(recipe.title)}]({recipe.url})" if recipe.url else _cell(recipe.title)
        lines.append(
            f"| `{name}`<br>{title} | {recipe.kind} | {', '.join(recipe.languages) or '-'} | "
            f"{', '.join(recipe.sources) or '-'} | {usage_cell(recipe)} | "
            f"{_cell(recipe.checked) or '-'} | {_cell(recipe.layout)} | "
            f"{_cell(recipe.licence) or '-'} | {_cell(recipe.obtain) or '-'} | "
            f"{_cell(recipe.notes) or '-'} |")
    return "\n".join(lines) + "\n"
