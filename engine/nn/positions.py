"""Positions for calibration, benchmarks and net comparison: FEN/EPD and PGN readers, a generator.

Readers never crash on bad input: unusable lines are skipped and counted in a
:class:`PositionReport` (``describe()`` gives a one-line summary with the first few offenders).
Games from PGN are replayed on :class:`cython_ext.position.Board` so that every position keeps
its move history (the 112-plane encoding uses the last 8 positions).
"""

from __future__ import annotations

import logging
import pathlib
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from cython_ext.encoding import encode_batch
from cython_ext.position import Board
from engine import DATA_DIR

OPENINGS_PATH = DATA_DIR / "openings.epd"
"""Opening book shipped with the package (see engine/data/README.md)."""
DEFAULT_MIN_RANDOM_PLIES = 4
DEFAULT_MAX_RANDOM_PLIES = 40
PGN_SUFFIXES = (".pgn",)
REPORTED_BAD_LINES = 3
MAX_GENERATION_ATTEMPTS_PER_POSITION = 20


@dataclass
class PositionReport:
    """What a reader kept and skipped."""

    source: str
    positions: int = 0
    skipped: int = 0
    examples: list[str] = field(default_factory=list)

    def skip(self, where: str, reason: str) -> None:
        self.skipped += 1
        if len(self.examples) < REPORTED_BAD_LINES:
            self.examples.append(f"{where}: {reason}")

    def describe(self) -> str:
        text = f"{self.source}: {self.positions} positions"
        if self.skipped:
            text += f", {self.skipped} skipped (" + "; ".join(self.examples) + ")"
        return text


def parse_fen_line(line: str) -> str:
    """Normalised FEN of one FEN or EPD line (EPD operations and ``;`` comments dropped).

    :raises ValueError: when the line does not hold a valid standard-chess position.
    """
    import chess

    tokens = line.split(";", 1)[0].split()
    if len(tokens) < 4:
        raise ValueError("fewer than 4 FEN fields")
    counters = tokens[4:6] if len(tokens) >= 6 and all(t.isdigit() for t in tokens[4:6]) else ["0", "1"]
    fen = " ".join(tokens[:4] + counters)
    board = chess.Board(fen)  # raises ValueError on syntax errors
    if not board.is_valid():
        raise ValueError(f"invalid position ({board.status()!r})")
    return board.fen()


def read_fen_file(path: str | pathlib.Path, limit: int | None = None,
                  report: PositionReport | None = None) -> list[Board]:
    """Positions of a FEN/EPD file, one per line; blank and ``#`` lines are ignored."""
    report = report if report is not None else PositionReport(str(path))
    boards: list[Board] = []
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, 1):
            if limit is not None and len(boards) >= limit:
                break
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            try:
                boards.append(Board(parse_fen_line(line)))
            except ValueError as error:
                report.skip(f"line {number}", str(error).splitlines()[0][:80])
    report.positions = len(boards)
    return boards


def read_pgn_file(path: str | pathlib.Path, limit: int | None = None, every: int = 1,
                  report: PositionReport | None = None) -> list[Board]:
    """Positions along the main line of every game (every ``every``-th ply, with history)."""
    import chess.pgn

    chess.pgn.LOGGER.setLevel(logging.CRITICAL)  # errors are counted in the report instead
    report = report if report is not None else PositionReport(str(path))
    boards: list[Board] = []
    with open(path, encoding="utf-8", errors="replace") as handle:
        game_number = 0
        while limit is None or len(boards) < limit:
            game = chess.pgn.read_game(handle)
            if game is None:
                break
            game_number += 1
            if game.errors:
                report.skip(f"game {game_number}", str(game.errors[0])[:80])
                continue
            try:
                board = Board(game.board().fen())
                for ply, move in enumerate(game.mainline_moves(), 1):
                    board.push_uci(move.uci())
                    if ply % every == 0 and board.outcome() is None:
                        boards.append(board.copy())
            except ValueError as error:
                report.skip(f"game {game_number}", str(error)[:80])
    if limit is not None:
        del boards[limit:]
    report.positions = len(boards)
    return boards


def read_positions(path: str | pathlib.Path, limit: int | None = None,
                   report: PositionReport | None = None) -> list[Board]:
    """Positions of a PGN (by suffix) or FEN/EPD file."""
    if str(path).lower().endswith(PGN_SUFFIXES):
        return read_pgn_file(path, limit=limit, report=report)
    return read_fen_file(path, limit=limit, report=report)


def opening_fens(path: str | pathlib.Path = OPENINGS_PATH) -> list[str]:
    """FENs of the opening book (bad lines skipped)."""
    return [board.fen() for board in read_fen_file(path)]


def generate_positions(count: int, seed: int = 0, starts: Sequence[Board] | None = None,
                       min_plies: int = DEFAULT_MIN_RANDOM_PLIES,
                       max_plies: int = DEFAULT_MAX_RANDOM_PLIES) -> list[Board]:
    """``count`` varied, non-terminal positions: random legal moves played from book openings.

    Deterministic for a given ``seed`` and ``starts`` (default: the shipped opening book). Each
    position gets a uniformly drawn number of random plies in ``[min_plies, max_plies]``, so the
    set covers openings and early middlegames, with history for the encoder.
    """
    rng = random.Random(seed)
    start_boards = list(starts) if starts is not None else [Board(fen) for fen in opening_fens()]
    if not start_boards:
        raise ValueError("no start positions to generate from")
    boards: list[Board] = []
    attempts = 0
    while len(boards) < count:
        attempts += 1
        if attempts > MAX_GENERATION_ATTEMPTS_PER_POSITION * max(count, 1):
            raise ValueError("start positions keep ending the game; cannot generate positions")
        board = rng.choice(start_boards).copy()
        for _ in range(rng.randint(min_plies, max_plies)):
            moves = board.legal_moves
            if not moves:
                break
            board.push_uci(rng.choice(moves))
        if board.outcome() is None:
            boards.append(board)
    return boards


def expand_positions(boards: Sequence[Board], count: int, seed: int = 0,
                     max_plies: int = DEFAULT_MAX_RANDOM_PLIES // 2) -> list[Board]:
    """``count`` positions derived from ``boards``: the boards themselves, then random continuations.

    Used for calibration so that a book of opening FENs also yields middlegame positions.
    """
    kept = [board for board in boards[:count] if board.outcome() is None]
    if len(kept) < count and boards:
        kept += generate_positions(count - len(kept), seed=seed, starts=boards, min_plies=1,
                                   max_plies=max_plies)
    return kept


def encode_positions(boards: Sequence[Board]) -> np.ndarray:
    """Input planes ``[N, 112, 8, 8]`` float32 of the boards."""
    return encode_batch(list(boards))


def batches(planes: np.ndarray, batch_size: int) -> Iterator[np.ndarray]:
    """Consecutive slices of ``planes`` with at most ``batch_size`` rows."""
    for start in range(0, len(planes), batch_size):
        yield planes[start:start + batch_size]

