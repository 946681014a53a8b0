"""``python -m curate.cli``."""

from curate.cli import main

main()
