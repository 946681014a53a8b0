"""Progress reporting for long jobs: a rich bar on a terminal, plain lines otherwise.

Library functions take ``progress(done, total)`` callbacks; the CLI makes them here.
Plain lines (for logs and pipes) are printed at most every ``every_s`` seconds
(default 5, or ``$CURATE_PROGRESS_INTERVAL``), plus the first and the last.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from typing import Callable, Iterator

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)


@contextlib.contextmanager
def progress_bar(description: str, *, console: Console | None = None,
                 every_s: float | None = None) -> Iterator[Callable[[int, int], None]]:
    """Yield a ``callback(done, total)`` that shows progress for ``description``."""
    console = console or Console(stderr=True)
    if console.is_terminal:
        columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), TimeRemainingColumn())
        with Progress(*columns, console=console, transient=False) as bar:
            task = bar.add_task(description, total=None)

            def update(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            yield update
        return
    if every_s is None:
        every_s = float(os.environ.get("CURATE_PROGRESS_INTERVAL", "5"))
    last = [time.monotonic()]

    def plain(done: int, total: int) -> None:
        now = time.monotonic()
        if done in (0, total) or now - last[0] >= every_s:
            last[0] = now
            print(f"{description}: {done}/{total}", file=sys.stderr, flush=True)

    yield plain
