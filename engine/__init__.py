"""AlphaZero-style chess engine: Cython game state and MCTS, precision-selectable network."""

from __future__ import annotations

__version__ = "0.1.0"
ENGINE_NAME = "AZChess"
ENGINE_AUTHOR = "the AZChess developers"
