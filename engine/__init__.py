"""AlphaZero-style chess engine: Cython game state and MCTS, precision-selectable network.

Sub-packages, one per concern: :mod:`engine.nn` (the network: model, net files, lc0 format,
quantization, evaluator), :mod:`engine.training` (Stockfish-labelled data and training),
:mod:`engine.arena` (engines as processes: matches, statistics, gating), :mod:`engine.bench`
(benchmarks: bench, profile, perft, netbench and the side-by-side baselines); :mod:`engine.cli`
is the ``engine`` console script on top. This module holds only names every package shares.
"""

from __future__ import annotations

import pathlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import chess

__version__ = "0.1.0"
ENGINE_NAME = "AZChess"
ENGINE_AUTHOR = "the AZChess developers"
DATA_DIR = pathlib.Path(__file__).resolve().parent / "data"
"""Books, test suites and game samples shipped with the package (see ``engine/data/README.md``)."""


def game_outcome(board: chess.Board) -> chess.Outcome | None:
    """The end of the game on ``board`` as a GUI rules it (cutechess-cli, fastchess): mate,
    stalemate, insufficient material, the position on the board for the third time, 100 plies
    without capture or pawn move. Not python-chess's ``claim_draw``, which also ends the game when
    the side to move *could* repeat a position a third time with its next move: that ended games
    a winning side would never have drawn (10 of 100 against Stockfish 2000).

    >>> import chess
    >>> board = chess.Board()
    >>> for move in ["g1f3", "g8f6", "f3g1", "f6g8", "g1f3", "g8f6", "f3g1"]:
    ...     _ = board.push_uci(move)
    >>> board.can_claim_draw(), game_outcome(board)
    (True, None)
    >>> _ = board.push_uci("f6g8")  # the starting position for the third time
    >>> game_outcome(board).termination.name
    'THREEFOLD_REPETITION'
    """
    import chess

    outcome = board.outcome(claim_draw=False)
    if outcome is not None:
        return outcome
    if board.is_repetition(3):
        return chess.Outcome(chess.Termination.THREEFOLD_REPETITION, None)
    if board.is_fifty_moves():
        return chess.Outcome(chess.Termination.FIFTY_MOVES, None)
    return None
