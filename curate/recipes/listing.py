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
"""


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def corpora_markdown() -> str:
    """Markdown: one table row per built-in recipe, then the generic ones."""
    lines = [HEADER, "| corpus | kind | languages | ROOT | licence | obtain | notes |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for name in builtin_corpus_recipes():
        recipe = load_recipe(name)
        title = f"[{_cell(recipe.title)}]({recipe.url})" if recipe.url else _cell(recipe.title)
        lines.append(
            f"| `{name}`<br>{title} | {recipe.kind} | {', '.join(recipe.languages) or '-'} | "
            f"{_cell(recipe.layout)} | {_cell(recipe.licence) or '-'} | "
            f"{_cell(recipe.obtain) or '-'} | {_cell(recipe.notes) or '-'} |")
    return "\n".join(lines) + "\n"
