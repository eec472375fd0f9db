"""AlphaZero-style chess engine: Cython game state and MCTS, precision-selectable network.

Sub-packages, one per concern: :mod:`engine.nn` (the network: model, net files, lc0 format,
quantization, evaluator), :mod:`engine.training` (Stockfish-labelled data and training),
:mod:`engine.arena` (engines as processes: matches, statistics, gating), :mod:`engine.bench`
(benchmarks: bench, profile, perft, netbench and the side-by-side baselines); :mod:`engine.cli`
is the ``engine`` console script on top. This module holds only names every package shares.
"""

from __future__ import annotations

import pathlib

__version__ = "0.1.0"
ENGINE_NAME = "AZChess"
ENGINE_AUTHOR = "the AZChess developers"
DATA_DIR = pathlib.Path(__file__).resolve().parent / "data"
"""Books, test suites and game samples shipped with the package (see ``engine/data/README.md``)."""
