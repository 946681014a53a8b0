"""Run a pure function over a table of tasks on Ray Data; results come back as Parquet.

The one scale-out engine of curate (probe now; the shard writer reuses it). What runs
where:

- **Driver** (the process that runs ``curate``): holds the catalog, builds the task
  table (one row per file), starts or joins Ray (:func:`ray_session`), streams the
  tasks through :func:`map_tasks`, and at the end reads the Parquet parts the workers
  wrote (:func:`read_parts`) and merges them into the catalog in one transaction.
- **Workers** (Ray tasks, on this machine or a cluster): run ``fn`` on a slice of task
  rows (a ``pyarrow.Table``), write what they produce with :func:`write_part` under a
  results URI, and return a small summary table. They never open the catalog: what
  they need from it (the probe's content-hash algorithm, the corpus root) the driver
  reads once and binds into ``fn`` (a ``functools.partial``).

A results URI is a local folder (every node must see it at the same path: shared
storage) or an object-storage URI that pyarrow's filesystems understand
(``s3://bucket/prefix``, ``gs://bucket/prefix``). Part names are chosen by the caller
and deterministic in the task slice, so a task that Ray retries rewrites the same part
instead of adding a second copy. Ray is an optional dependency (``pip install
'curate[ray]'``); everything here imports it lazily.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import socket
from typing import Callable, Iterator

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from curate.errors import CurateError

__all__ = ["ENGINES", "require_ray", "ray_session", "check_reachable", "map_tasks",
           "worker_name", "write_part", "list_parts", "read_parts", "remove_parts"]

#: Engines of the probe: a process pool on this machine, or Ray Data.
ENGINES = ("pool", "ray")

_INSTALL_HINT = "install it with `pip install 'curate[ray]'` (or pip install 'ray[data]')"


def require_ray():
    """Import ``ray`` and ``ray.data``; a :class:`CurateError` naming the fix if absent."""
    try:
        import ray
        import ray.data  # noqa: F401  (Ray Data is a separate extra of ray)
    except ImportError as exc:
        raise CurateError(f"--engine ray needs Ray Data, which is not installed ({exc}); "
                          f"{_INSTALL_HINT}") from None
    return ray


@contextlib.contextmanager
def ray_session(address: str | None = None, *, num_cpus: int | None = None) -> Iterator:
    """Yield ``ray``, connected: to ``address`` (``auto``, ``HOST:PORT`` or
    ``ray://HOST:PORT``; default ``$RAY_ADDRESS`` when set), else to a new local
    instance with ``num_cpus`` CPUs.

    A Ray session already started by the caller (``ray.init`` before) is used as it is
    and left running; one started here is shut down on exit. Ray Data's own progress
    bars are turned off: the caller shows progress per finished task.
    """
    ray = require_ray()
    started = False
    if not ray.is_initialized():
        address = address or os.environ.get("RAY_ADDRESS") or None
        if address:
            check_reachable(address)
        kwargs = {"address": address} if address else {"num_cpus": num_cpus}
        try:
            ray.init(include_dashboard=False, logging_level=logging.WARNING,
                     log_to_driver=True, **kwargs)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = f"the Ray cluster at {address}" if address else "a local Ray instance"
            raise CurateError(f"cannot start or reach {where}: {exc}; start the head node "
                              f"with `ray start --head` and pass its address to --address "
                              f"(or leave --address out for a local instance)") from None
        started = True
    context = ray.data.DataContext.get_current()
    saved = context.enable_progress_bars, context.print_on_execution_start
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    logger = logging.getLogger("ray.data")  # its notes (bars off, plans) are noise here
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield ray
    finally:
        context.enable_progress_bars, context.print_on_execution_start = saved
        logger.setLevel(level)
        if started:
            ray.shutdown()


def check_reachable(address: str, *, timeout_s: float = 5.0) -> None:
    """Fail fast on a ``HOST:PORT`` or ``ray://HOST:PORT`` address nothing listens on
    (``ray.init`` itself retries for minutes); ``auto`` and bare names pass through.

    Raises:
        CurateError: naming the address and the fix.
    """
    target = address.split("://", 1)[-1]
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit() or not host:
        return
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except OSError as exc:
        raise CurateError(f"cannot reach the Ray cluster at {address} ({exc}); start the head "
                          f"node with `ray start --head` and pass the address it prints to "
                          f"--address (HOST:6379, or ray://HOST:10001 for Ray Client)") from None


def map_tasks(tasks: pa.Table, fn: Callable[[pa.Table], pa.Table], *,
              rows_per_task: int) -> Iterator[pa.Table]:
    """Run ``fn`` on every slice of ``rows_per_task`` rows of ``tasks`` on Ray Data.

    Call inside :func:`ray_session`. ``fn`` must be picklable (a module-level function or
    a ``functools.partial`` of one) and return a ``pyarrow.Table`` (keep it small: a
    summary of what the task wrote). Yields each task's table as it finishes, in no
    particular order. A :class:`CurateError` raised by ``fn`` on a worker stops the run
    and is raised here with its own sentence (Ray itself only carries its text).

    Raises:
        ValueError: ``rows_per_task < 1``.
        CurateError: ``fn`` raised one on a worker.
    """
    if rows_per_task < 1:
        raise ValueError(f"rows_per_task must be >= 1, got {rows_per_task}")
    ray = require_ray()
    if tasks.num_rows == 0:
        return
    slices = [tasks.slice(start, rows_per_task)
              for start in range(0, tasks.num_rows, rows_per_task)]
    dataset = ray.data.from_arrow(slices)  # one block per slice: one task per slice
    results = dataset.map_batches(functools.partial(_guarded, fn), batch_format="pyarrow",
                                  batch_size=None, zero_copy_batch=True)
    for batch in results.iter_batches(batch_format="pyarrow", batch_size=None):
        if _ERROR in batch.column_names:
            raise CurateError(batch.column(_ERROR)[0].as_py())
        yield batch


_ERROR = "__curate_error__"


def _guarded(fn: Callable[[pa.Table], pa.Table], tasks: pa.Table) -> pa.Table:
    """Run ``fn`` on a worker; a :class:`CurateError` comes back as a one-row table."""
    try:
        return fn(tasks)
    except CurateError as exc:
        return pa.table({_ERROR: [str(exc)]})


def worker_name() -> str:
    """``host:pid`` of the process running a task (for errors raised on workers)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    """The pyarrow filesystem of ``uri`` and the path inside it (local paths made
    absolute)."""
    if "://" in uri:
        try:
            return pafs.FileSystem.from_uri(uri)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as exc:
            raise CurateError(f"results location {uri!r} cannot be opened: {exc}; use a "
                              f"folder on shared storage or an s3:// / gs:// URI") from None
    return pafs.LocalFileSystem(), os.path.abspath(uri)


def write_part(table: pa.Table, uri: str, name: str) -> str:
    """Write ``table`` as Parquet file ``name`` under ``uri`` (created when absent).

    Written under a hidden temporary name and moved into place, so a reader never sees
    half a part; an existing part of the same name is replaced.

    Returns:
        the part's name.
    """
    fs, base = _filesystem(uri)
    fs.create_dir(base, recursive=True)
    temporary = f"{base}/.{name}.{os.getpid()}.tmp"
    with fs.open_output_stream(temporary) as stream:
        pq.write_table(table, stream)
    fs.move(temporary, f"{base}/{name}")
    return name


def list_parts(uri: str) -> list[str]:
    """Names of the Parquet parts under ``uri`` (none when it does not exist), sorted."""
    fs, base = _filesystem(uri)
    infos = fs.get_file_info(pafs.FileSelector(base, allow_not_found=True))
    return sorted(info.base_name for info in infos
                  if info.type == pafs.FileType.File and info.base_name.endswith(".parquet")
                  and not info.base_name.startswith("."))


def read_parts(uri: str, schema: pa.Schema, names: list[str] | None = None) -> pa.Table:
    """The parts ``names`` (default: all) under ``uri`` as one table of ``schema``.

    Raises:
        CurateError: a named part is not there (the workers wrote it where this machine
            cannot see it: the results location is not shared).
    """
    fs, base = _filesystem(uri)
    names = list_parts(uri) if names is None else names
    tables = []
    for name in names:
        try:
            tables.append(pq.read_table(f"{base}/{name}", schema=schema, filesystem=fs))
        except FileNotFoundError:
            raise CurateError(f"a worker wrote {name} under {uri}, which this machine cannot "
                              f"see; put the results on storage every node shares (a "
                              f"shared folder or an s3:// URI) with --results") from None
    if not tables:
        return schema.empty_table()
    return pa.concat_tables(tables)


def remove_parts(uri: str, names: list[str]) -> None:
    """Delete the parts ``names`` under ``uri`` (and the folder, when left empty)."""
    fs, base = _filesystem(uri)
    for name in names:
        with contextlib.suppress(FileNotFoundError):
            fs.delete_file(f"{base}/{name}")
    with contextlib.suppress(OSError):
        if not fs.get_file_info(pafs.FileSelector(base, allow_not_found=True)):
            fs.delete_dir(base)
