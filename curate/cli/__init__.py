"""The ``curate`` command line: parse, call the library, print.

User errors (:class:`curate.errors.CurateError`) print one line and exit with the
error's code; nothing here holds logic the library does not expose. Each command
group lives in its own module; importing them registers their commands on ``app``.
"""

from __future__ import annotations

import sys

import duckdb
import typer

from curate.cli import (  # noqa: F401  (registers the commands, in help order)
    catalog_commands, selection_commands, demo_command, bench_commands, augment_command,
    run_commands, eval_commands, plot_commands, report_commands,
    shard_command,
    benchmark_command,
)
from curate.catalog.db import damaged_catalog_error
from curate.cli.common import app, print_error
from curate.errors import CurateError


def main() -> None:
    """Console entry point: user errors become one line and an exit code."""
    try:
        code = app(standalone_mode=False)
    except CurateError as exc:
        print_error(str(exc))
        sys.exit(exc.exit_code)
    except ValueError as exc:
        print_error(str(exc))
        sys.exit(2)
    except duckdb.Error as exc:
        damage = damaged_catalog_error(exc)
        if damage is None:
            raise
        print_error(str(damage))
        sys.exit(damage.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(130)
    except Exception as exc:  # usage errors of the command-line parser
        if hasattr(exc, "show") and hasattr(exc, "exit_code"):
            exc.show()
            sys.exit(exc.exit_code)
        raise
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
