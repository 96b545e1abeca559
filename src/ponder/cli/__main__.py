"""``python -m ponder.cli ...``: the ``ponder`` command."""

import sys

from ponder.cli import main

if __name__ == "__main__":  # not when a spawned process re-imports the main module
    sys.exit(main())
