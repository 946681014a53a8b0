"""The shard folder's two JSON files, and where shards are read from.

A shard folder (``curate shard SELECTION --out DIR``) holds:

- ``SPLIT/SPLIT-000000.tar``, ...: the shards (WebDataset layout, see
  :mod:`curate.shard.writer`);
- ``index.json``: what the run plans (options, a hash of which item goes to which
  shard, items and shards per split) and, once every shard is written, one entry per
  shard. While shards are written, each finished shard's entry is appended to
  ``.index.jsonl`` (one JSON line, flushed to disk): with the entries of
  ``index.json`` it is the resume point of an interrupted run, and appending keeps
  the cost per shard constant however many shards there are. An entry::

      {"name": "train/train-000000.tar", "split": "train", "number": 0,
       "planned": 1000, "items": 998, "seconds": 3990.2, "bytes": 61234176,
       "groups": {"label": {"bonafide": 500, "spoof": 498}, "corpus": {...},
                  "language": {...}, "generator": {...}},
       "weight_sum": 998.0,
       "unreadable": [{"utt_id": "c:x", "reason": "..."}]}

  ``planned`` - ``items`` = the items of that shard whose audio could not be read
  (listed under ``unreadable``); ``seconds`` are of the stored audio.
- ``manifest.json``: written last, when every planned shard is finished (its
  presence marks complete shards): the selection and its ``spec_hash``, the options,
  per split the items selected, left out as unavailable, planned, written and
  unreadable, the shard count, and every unreadable item. Per split ``written +
  unreadable + unavailable == selected``: no item is dropped silently.

Locations: training names a shard folder by a *location*: a local folder, a
``file:`` URL, a URL prefix (``https://host/shards``: file names are appended after a
``/``), or any URL WebDataset opens with ``{name}`` where a file's name goes
(``pipe:aws s3 cp s3://bucket/shards/{name} -``). The JSON files are read through the
same location, with WebDataset's ``gopen``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curate.errors import CurateError

INDEX = "index.json"
JOURNAL = ".index.jsonl"
MANIFEST = "manifest.json"
FORMAT = "curate.shards"
VERSION = 1

#: Group columns whose counts the index keeps per shard (what stream sampling can
#: weight by; ``label`` always).
GROUP_COLUMNS = ("label", "corpus", "language", "generator")

#: Value counted for an item whose group column is empty.
NONE = "<none>"

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")


def is_url(location: str) -> bool:
    """True for ``scheme:...`` (``file:``, ``pipe:``, ``https:``, ...); a one-letter
    scheme is a Windows drive, not a URL."""
    return bool(_SCHEME.match(location))


def normalize_location(location: str, base: Path | None = None) -> str:
    """A local folder as an absolute path (relative to ``base``, default the cwd); a URL
    unchanged."""
    location = str(location).strip()
    if not location or is_url(location):
        return location
    path = Path(location).expanduser()
    if not path.is_absolute():
        path = (base or Path.cwd()) / path
    return str(path.resolve())


def shard_url(location: str, name: str) -> str:
    """The URL (or path) of file ``name`` (e.g. ``train/train-000000.tar``) of the
    shard folder at ``location``."""
    if "{name}" in location:
        return location.replace("{name}", name)
    if location.startswith("pipe:"):
        raise CurateError(f"shards location {location!r} is a pipe: command without "
                          f"{{name}}; put {{name}} where the file's name goes, e.g. "
                          f"'pipe:aws s3 cp s3://bucket/shards/{{name}} -'")
    return location.rstrip("/") + "/" + name


def read_json(location: str, name: str) -> dict | None:
    """File ``name`` of the shard folder at ``location`` as JSON; None when a local
    file does not exist.

    Raises:
        CurateError: the file cannot be read or is not JSON.
    """
    url = shard_url(location, name)
    try:
        if not is_url(url):
            if not os.path.isfile(url):
                return None
            with open(url, "rb") as f:
                data = f.read()
        else:
            from webdataset import gopen

            stream = gopen(url, "rb")
            try:
                data = stream.read()
            finally:
                stream.close()
        return json.loads(data)
    except CurateError:
        raise
    except Exception as exc:  # noqa: BLE001 - a URL's failure is the user's to fix
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CurateError(f"cannot read {url} ({detail}); check the shards location "
                          f"(a folder, a file: URL or a URL with {{name}})") from None


def read_journal(location: str) -> list[dict]:
    """The entries of shards finished by a run still writing (or interrupted): the
    lines of ``.index.jsonl`` (a local folder only; a last line cut short by a kill is
    left out)."""
    path = shard_url(location, JOURNAL)
    if is_url(path) or not os.path.isfile(path):
        return []
    entries = []
    for line in Path(path).read_text().splitlines():
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return entries


def append_journal(folder: Path, entry: dict) -> None:
    """Append one finished shard's entry to ``folder/.index.jsonl``, flushed to disk."""
    with open(folder / JOURNAL, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry, sort_keys=True, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


def write_json(folder: Path, name: str, payload: dict) -> None:
    """Write ``folder/name`` atomically (temporary file, then rename)."""
    path = folder / name
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=1, sort_keys=True, ensure_ascii=False))
    os.replace(tmp, path)


@dataclass(frozen=True)
class ShardFolder:
    """A complete shard folder, as training reads it: its manifest and its index.

    Attributes:
        location: where it is (a folder or a URL template, see the module doc).
        manifest: ``manifest.json``.
        index: ``index.json``.
    """

    location: str
    manifest: dict
    index: dict

    @property
    def selection(self) -> str:
        return str(self.manifest["selection"])

    @property
    def spec_hash(self) -> str:
        return str(self.manifest["spec_hash"])

    def splits(self) -> list[str]:
        return sorted(self.manifest["splits"])

    def shards(self, split: str) -> list[dict]:
        """The index entries of ``split``'s shards, in shard order."""
        return sorted((e for e in self.index["shards"] if e["split"] == split),
                      key=lambda e: int(e["number"]))

    def url(self, name: str) -> str:
        return shard_url(self.location, name)

    def summary(self) -> dict[str, Any]:
        """What a run records of the shards it trained on."""
        return {"location": self.location, "selection": self.selection,
                "spec_hash": self.spec_hash,
                "shards": sum(int(s["shards"]) for s in self.manifest["splits"].values()),
                "splits": {name: {k: s[k] for k in ("shards", "written", "unreadable")}
                           for name, s in sorted(self.manifest["splits"].items())}}


def load_folder(location: str) -> ShardFolder:
    """Read a complete shard folder's manifest and index.

    Raises:
        CurateError: no manifest (not a shard folder, or shards still being written),
            or an index that does not match it.
    """
    manifest = read_json(location, MANIFEST)
    if manifest is None:
        index = read_json(location, INDEX)
        if index is None:
            raise CurateError(f"{location} holds no shards (no {MANIFEST}); write them "
                              f"with `curate shard SELECTION --out {location}`")
        planned = sum(int(p["shards"]) for p in index.get("planned", {}).values())
        written = len(index["shards"]) + len(read_journal(location))
        raise CurateError(f"the shards in {location} are incomplete ({written} "
                          f"of {planned} written); finish them with `curate shard "
                          f"{index.get('selection', 'SELECTION')} --out {location}` (it "
                          f"resumes)")
    if manifest.get("format") != FORMAT or int(manifest.get("version", 0)) > VERSION:
        raise CurateError(f"{shard_url(location, MANIFEST)} is not a manifest of curate "
                          f"shards (version <= {VERSION}); write the shards with this curate")
    index = read_json(location, INDEX)
    if index is None:
        raise CurateError(f"{location} has a {MANIFEST} but no {INDEX}; write the shards "
                          f"again with `curate shard`")
    folder = ShardFolder(location, manifest, index)
    for split, facts in manifest["splits"].items():
        entries = folder.shards(split)
        if len(entries) != int(facts["shards"]) or \
                sum(int(e["items"]) for e in entries) != int(facts["written"]):
            raise CurateError(f"{shard_url(location, INDEX)} does not match its manifest "
                              f"for split {split!r}; write the shards again with "
                              f"`curate shard`")
    return folder


def merged_counts(entries: list[dict], column: str) -> dict[str, int]:
    """Items per value of group ``column`` over ``entries`` (index entries)."""
    out: dict[str, int] = {}
    for entry in entries:
        for value, n in entry["groups"].get(column, {}).items():
            out[value] = out.get(value, 0) + int(n)
    return out
