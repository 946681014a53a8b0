"""The leaderboard files: ``leaderboard.md``, ``leaderboard.html``, ``leaderboard.json``.

All three render the same data (:func:`curate.benchmark.board.build_board`): a ranking
table (average and pooled EER, then the EER of each set), a per-(set, run) table with
minDCF, trials, skipped items and the training-overlap restriction, and the sets that
are not prepared. The JSON adds each result's provenance record. EER is shown in %.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

__all__ = ["to_markdown", "to_html", "to_json", "write_leaderboard", "FILES"]

FILES = ("leaderboard.md", "leaderboard.html", "leaderboard.json")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100.0 * value:.2f}"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _ready(board: dict) -> list[dict]:
    return [s for s in board["sets"] if s["status"] == "ready"]


def _result(board: dict, run_id: str, set_name: str) -> dict | None:
    return next((r for r in board["results"]
                 if r["run_id"] == run_id and r["set"] == set_name), None)


def _tables(board: dict) -> tuple[list[str], list[list[str]], list[str], list[list[str]]]:
    """(ranking header, rows, per-set header, rows) as display strings."""
    sets = _ready(board)
    head = ["rank", "run", "avg EER %", "pooled EER %", "avg minDCF", "pooled minDCF",
            "trials", "skipped"] + [f"{s['name']} EER %" for s in sets]
    rows = []
    for run in board["runs"]:
        cells = [str(run["rank"]), run["run_id"], _pct(run["average_eer"]),
                 _pct(run["pooled_eer"]), _num(run["average_min_dcf"]),
                 _num(run["pooled_min_dcf"]), str(run["n_trials"]), str(run["n_skipped"])]
        for s in sets:
            result = _result(board, run["run_id"], s["name"])
            cells.append(_pct(result["eer"]) if result else "-")
        rows.append(cells)
    detail_head = ["set", "run", "EER %", "minDCF", "trials", "bonafide", "spoof",
                   "skipped", "overlap with training", "scores", "note"]
    detail = []
    for s in sets:
        for run in board["runs"]:
            r = _result(board, run["run_id"], s["name"])
            if r is None:
                continue
            detail.append([s["name"], run["run_id"], _pct(r["eer"]), _num(r["min_dcf"]),
                           str(r["n_trials"]), str(r["n_bonafide"]), str(r["n_spoof"]),
                           str(r["n_skipped"]), r["restriction"],
                           r["provenance"]["scores"], r["note"]])
    return head, rows, detail_head, detail


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _md_table(head: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(map(_md_cell, head)) + " |",
             "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(map(_md_cell, row)) + " |" for row in rows]
    return lines


def _intro(board: dict) -> tuple[str, list[str]]:
    suite = board["suite"]
    title = f"Leaderboard: {suite['title']} (suite {suite['name']})"
    lines = [f"Suite file {suite['file']} (sha256 {suite['sha256'][:16]}), written "
             f"{board['created_at']}." + (f" Source: {suite['url']}." if suite["url"] else ""),
             "EER and minDCF per set (minDCF at p_spoof 0.05, C_miss 1, C_fa 10); average = "
             "mean over the sets; pooled = one threshold over the trials of all sets. "
             "Skipped = items of the set that could not be read (not scored)."]
    return title, lines


def to_markdown(board: dict, *, level: int = 1) -> str:
    """The leaderboard as a markdown document whose title is a heading of ``level``
    (1: ``#``; 2 to embed it as a section of another report)."""
    title, intro = _intro(board)
    head, rows, detail_head, detail = _tables(board)
    top, sub = "#" * level, "#" * (level + 1)
    lines = [f"{top} {title}", "", *intro, ""]
    lines += _md_table(head, rows) if rows else ["(no runs)"]
    lines += ["", f"{sub} Per set", ""]
    lines += _md_table(detail_head, detail) if detail else ["(no prepared sets)"]
    absent = [s for s in board["sets"] if s["status"] != "ready"]
    if absent:
        lines += ["", f"{sub} Sets not prepared", ""]
        lines += [f"- {_md_cell(s['name'])}: {_md_cell(s['reason'])}" for s in absent]
    lines += ["", "Provenance of every result (selection spec hash, corpus recipe hashes, "
              "numbers of trials and skipped items, sha256 of the score file): "
              "leaderboard.json.", ""]
    return "\n".join(lines)


def _html_table(head: list[str], rows: list[list[str]]) -> str:
    out = ["<table>", "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"]
    out += ["<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
            for row in rows]
    out.append("</table>")
    return "\n".join(out)


def to_html(board: dict) -> str:
    """The leaderboard as one self-contained HTML page."""
    title, intro = _intro(board)
    head, rows, detail_head, detail = _tables(board)
    parts = ["<!DOCTYPE html>", "<html><head><meta charset=\"utf-8\">",
             f"<title>{html.escape(title)}</title>",
             "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;"
             "margin:1em 0}th,td{border:1px solid #bbb;padding:.25em .6em;text-align:right}"
             "th{background:#eee}td:nth-child(-n+2){text-align:left}</style>",
             "</head><body>", f"<h1>{html.escape(title)}</h1>"]
    parts += [f"<p>{html.escape(line)}</p>" for line in intro]
    parts.append(_html_table(head, rows))
    parts += ["<h2>Per set</h2>", _html_table(detail_head, detail)]
    absent = [s for s in board["sets"] if s["status"] != "ready"]
    if absent:
        parts.append("<h2>Sets not prepared</h2><ul>")
        parts += [f"<li>{html.escape(s['name'])}: {html.escape(s['reason'])}</li>"
                  for s in absent]
        parts.append("</ul>")
    parts += ["<p>Provenance of every result: leaderboard.json.</p>", "</body></html>", ""]
    return "\n".join(parts)


def to_json(board: dict) -> str:
    return json.dumps(board, indent=2, sort_keys=False, allow_nan=False) + "\n"


def write_leaderboard(board: dict, out_dir: Path | str) -> dict[str, Path]:
    """Write the three files into ``out_dir``; returns their paths by file name."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, text in zip(FILES, (to_markdown(board), to_html(board), to_json(board))):
        path = out_dir / name
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
        paths[name] = path
    return paths
