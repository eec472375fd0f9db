"""Opening books: EPD/FEN and PGN files read into start positions with book moves."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import chess
import chess.pgn

from engine import DATA_DIR
from engine.arena.specs import MatchError

DEFAULT_BOOK = DATA_DIR / "UHO_4060_v4_1000.epd"


@dataclass(frozen=True)
class Opening:
    """A start position and the book moves played from it.

    :ivar fen: FEN of the start position.
    :ivar moves: book moves (UCI) played from ``fen``.
    """

    fen: str
    moves: tuple[str, ...] = ()

    def board(self) -> chess.Board:
        """The position after the book moves."""
        board = chess.Board(self.fen)
        for move in self.moves:
            board.push_uci(move)
        return board


def _read_epd(path: Path) -> list[Opening]:
    openings = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        board = chess.Board()
        fields = line.split(";")[0].split()
        try:
            if len(fields) == 6 and fields[4].isdigit() and fields[5].isdigit():
                board.set_fen(" ".join(fields))  # a FEN with move counters
            else:
                board.set_epd(line)
        except ValueError as exc:
            raise MatchError(f"{path}:{number}: bad EPD: {exc}") from exc
        openings.append(Opening(board.fen()))
    return openings


def _read_pgn(path: Path, plies: int | None, limit: int | None) -> list[Opening]:
    openings: list[Opening] = []
    with path.open(encoding="utf-8", errors="replace") as handle:
        while limit is None or len(openings) < limit:
            game = chess.pgn.read_game(handle)
            if game is None:
                break
            if game.errors:
                raise MatchError(f"{path}: bad PGN game {len(openings) + 1}: {game.errors[0]}")
            moves = [move.uci() for move in game.mainline_moves()]
            openings.append(Opening(game.board().fen(), tuple(moves[:plies])))
    return openings


def load_openings(path: Path, count: int, *, order: str = "sequential", start: int = 1,
                  plies: int | None = None, seed: int | None = None) -> list[Opening]:
    """Read ``count`` openings from an EPD or PGN book (by file extension).

    :param path: the book.
    :param count: openings needed (the book is cycled if it is shorter).
    :param order: ``sequential`` (from ``start``) or ``random`` (seeded shuffle).
    :param start: 1-based index of the first opening (sequential order).
    :param plies: PGN books: keep at most this many book plies.
    :param seed: random order: the seed.
    """
    if not path.is_file():
        raise MatchError(f"opening book {path} not found")
    suffix = path.suffix.lower()
    if suffix == ".pgn":
        needed = None if order == "random" else start - 1 + count
        book = _read_pgn(path, plies, needed)
    elif suffix in (".epd", ".fen"):
        book = _read_epd(path)
    else:
        raise MatchError(f"opening book {path}: expected .epd or .pgn")
    if not book:
        raise MatchError(f"opening book {path} is empty")
    if order == "random":
        random.Random(seed).shuffle(book)
        first = 0
    else:
        first = (start - 1) % len(book)
    return [book[(first + i) % len(book)] for i in range(count)]
