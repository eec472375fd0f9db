"""``python -m engine``: the ``engine`` console script; also the entry script of the standalone binary (engine.spec)."""

from __future__ import annotations

import multiprocessing
import sys

from engine.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # a frozen binary's worker processes (datagen) start here too
    sys.exit(main())
