"""The ``[filter] where`` escape hatch: a SQL boolean over ``utterances`` columns.

It is the one place a user's text becomes SQL, so it is checked before use:
tokenised, and every token must be a column of ``utterances``, a literal, an
operator or a whitelisted keyword/function. Statements, comments, subqueries
and unknown names are refused with a message naming the token, and parentheses
(outside string literals) must balance, so the text cannot close the expression it
is placed in. The expression is then bound once against the schema (``EXPLAIN``)
so type errors surface at spec time, not in the middle of a freeze.

The freeze applies it only to rows every other filter already keeps
(``curate.select.sql``), so even a balanced ``(...) OR (1=1)`` cannot widen a
selection.
"""

from __future__ import annotations

import re

import duckdb

from curate.catalog.columns import UTTERANCE_COLUMNS
from curate.catalog.db import schema_sql
from curate.errors import CurateError

KEYWORDS = frozenset({
    "and", "or", "not", "in", "is", "null", "like", "ilike", "between", "true", "false",
    "case", "when", "then", "else", "end", "cast", "as", "varchar", "double", "integer",
    "bigint", "similar", "to", "escape", "distinct", "from",
})
FUNCTIONS = frozenset({
    "lower", "upper", "length", "coalesce", "nullif", "regexp_matches", "starts_with",
    "ends_with", "contains", "abs", "round", "floor", "ceil", "least", "greatest",
    "substr", "substring", "strlen", "trim", "prefix", "suffix", "split_part", "hash",
    "md5", "isnan", "isfinite", "ln", "log10", "sqrt", "pow", "power", "mod",
})
_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<string>'(?:[^']|'')*')
  | (?P<number>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><>|!=|<=|>=|\|\||::|[=<>+\-*/%(),])
""", re.VERBOSE)


def check_where(expression: str, where: str = "selection") -> str:
    """Return ``expression`` when it is a safe boolean over utterances columns.

    Raises:
        CurateError: naming the offending token and what is allowed.
    """
    if not isinstance(expression, str) or not expression.strip():
        raise CurateError(f"{where}: filter.where must be a non-empty SQL boolean")
    for marker in ("--", "/*", ";"):
        if marker in re.sub(r"'(?:[^']|'')*'", "''", expression):
            raise CurateError(f"{where}: filter.where may not contain {marker!r}: give one "
                              f"boolean expression, without comments or statements")
    columns = set(UTTERANCE_COLUMNS)
    pos = 0
    depth = 0  # open parentheses, counted on tokens: a ')' inside '...' is text
    while pos < len(expression):
        match = _TOKEN.match(expression, pos)
        if match is None:
            raise CurateError(f"{where}: filter.where: unexpected {expression[pos:pos + 10]!r} "
                              f"at character {pos}; comments, ';' and quotes other than "
                              f"'...' are not allowed")
        kind, text = match.lastgroup, match.group(0)
        if kind == "name":
            lower = text.lower()
            following = expression[match.end():].lstrip()
            if lower in columns or lower in KEYWORDS:
                pass
            elif lower in FUNCTIONS and following.startswith("("):
                pass
            else:
                raise CurateError(
                    f"{where}: filter.where: {text!r} is not a column of utterances or an "
                    f"allowed function; columns: {', '.join(UTTERANCE_COLUMNS)}")
        elif text == "(":
            depth += 1
        elif text == ")":
            depth -= 1
            if depth < 0:
                raise CurateError(
                    f"{where}: filter.where has unbalanced parentheses: the ')' at character "
                    f"{pos} closes nothing; give one boolean expression in which every ')' "
                    f"closes an earlier '('")
        pos = match.end()
    if depth:
        raise CurateError(f"{where}: filter.where has unbalanced parentheses: {depth} '(' "
                          f"never closed; close every '(' with a ')'")
    con = duckdb.connect(":memory:")
    try:
        con.execute(schema_sql())  # the real schema, from its one DDL source
        con.execute(f"EXPLAIN SELECT count(*) FROM utterances WHERE ({expression})")
    except duckdb.Error as exc:
        detail = str(exc).strip().splitlines()[0]
        raise CurateError(f"{where}: filter.where does not bind: {detail}") from None
    finally:
        con.close()
    return expression
