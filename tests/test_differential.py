"""Differential tests against python-chess over thousands of seeded random games."""

from __future__ import annotations

import random

import chess

from cython_ext.position import Board

GAMES = 2000
CHESS960_GAMES = 200
MAX_PLIES = 300


def identity(ref: chess.Board) -> str:
    """Position identity under FIDE repetition rules (python-chess's view)."""
    return " ".join(ref.fen().split()[:4])


def choose_move(rng: random.Random, ref: chess.Board) -> chess.Move:
    legal = list(ref.legal_moves)
    # Undo our own previous move now and then, so repetitions actually happen.
    if len(ref.move_stack) >= 2 and rng.random() < 0.25:
        previous = ref.move_stack[-2]
        back = chess.Move(previous.to_square, previous.from_square)
        if back in legal:
            return back
    return rng.choice(legal)


def compare(board: Board, ref: chess.Board, chess960: bool, where: str) -> None:
    assert board.fen() == ref.fen(), where
    assert sorted(board.legal_moves) == sorted(ref.uci(m, chess960=chess960) for m in ref.legal_moves), where
    assert board.is_check() == ref.is_check(), where
    assert board.is_checkmate() == ref.is_checkmate(), where
    assert board.is_stalemate() == ref.is_stalemate(), where
    assert board.is_insufficient_material() == ref.is_insufficient_material(), where
    assert board.is_fifty_moves() == ref.is_fifty_moves(), where
    assert board.is_repetition(2) == ref.is_repetition(2), where
    assert board.is_threefold_repetition() == ref.is_repetition(3), where
    assert board.outcome() == (None if ref.outcome() is None else
                               (ref.outcome().termination.name.lower(), ref.outcome().winner)), where


def play_games(count: int, seed: int, chess960: bool) -> dict:
    rng = random.Random(seed)
    keys: dict[int, str] = {}
    flags = {"checkmate": 0, "stalemate": 0, "insufficient": 0, "fifty": 0, "threefold": 0, "plies": 0}
    for game in range(count):
        if chess960:
            ref = chess.Board.from_chess960_pos(rng.randrange(960))
        else:
            ref = chess.Board()
        board = Board(ref.fen(), chess960=chess960)
        for ply in range(MAX_PLIES):
            where = f"game {game} ply {ply}: {ref.fen()} after {[m.uci() for m in ref.move_stack][-6:]}"
            compare(board, ref, chess960, where)
            ident = identity(ref)
            assert keys.setdefault(board.zobrist, ident) == ident, f"Zobrist collision at {where}"
            flags["plies"] += 1
            flags["fifty"] += ref.is_fifty_moves()
            flags["threefold"] += ref.is_repetition(3)
            if ref.is_game_over(claim_draw=False) or ref.is_repetition(3) or ref.is_fifty_moves():
                flags["checkmate"] += ref.is_checkmate()
                flags["stalemate"] += ref.is_stalemate()
                flags["insufficient"] += ref.is_insufficient_material()
                break
            move = choose_move(rng, ref)
            board.push_uci(ref.uci(move, chess960=chess960))
            ref.push(move)
        # Unwinding restores every earlier FEN exactly.
        while ref.move_stack:
            ref.pop()
            board.pop()
            assert board.fen() == ref.fen()
    # Different positions got different keys: the key -> identity map is injective.
    assert len(set(keys.values())) == len(keys)
    return flags


def test_random_games_match_python_chess():
    flags = play_games(GAMES, seed=20261127, chess960=False)
    # The games must actually exercise every ending we compare.
    assert flags["plies"] > 100_000
    for name in ("checkmate", "stalemate", "insufficient", "fifty", "threefold"):
        assert flags[name] > 0, (name, flags)


def test_random_chess960_games_match_python_chess():
    flags = play_games(CHESS960_GAMES, seed=960, chess960=True)
    assert flags["plies"] > 10_000


def test_castling_notation_standard_and_960():
    board = Board("r3k2r/8/8/8/8/8/8/R3K2R w KQkq - 0 1")
    assert "e1g1" in board.legal_moves and "e1c1" in board.legal_moves
    board.push_uci("e1h1")  # king-takes-rook is accepted in standard mode too
    assert board.fen() == "r3k2r/8/8/8/8/8/8/R4RK1 b kq - 1 1"
    board960 = Board("r3k2r/8/8/8/8/8/8/R3K2R w KQkq - 0 1", chess960=True)
    assert "e1h1" in board960.legal_moves and "e1g1" not in board960.legal_moves
    assert board960.fen(shredder=True) == "r3k2r/8/8/8/8/8/8/R3K2R w HAha - 0 1"


def test_zobrist_is_incremental_and_deterministic():
    a = Board()
    for move in ("g1f3", "g8f6", "f3g1", "f6g8"):
        a.push_uci(move)
    assert a.zobrist == Board().zobrist
    assert a.is_repetition(2) and not a.is_repetition(3)
    b = Board("rnbqkbnr/pppppppp/8/8/4P3/8/PPPP1PPP/RNBQKBNR b KQkq e3 0 1")
    c = Board()
    c.push_uci("e2e4")
    assert b.zobrist == c.zobrist  # e3 dropped: no legal en-passant capture


def test_threefold_games(data_dir):
    lines = [l for l in (data_dir / "threefold_games.txt").read_text().splitlines() if not l.startswith("#")]
    assert len(lines) == 713
    for line in lines:
        fen, moves = line.split("|")
        board = Board(fen)
        for move in moves.split():
            assert not board.is_threefold_repetition(), line[:80]
            board.push_uci(move)
        assert board.is_threefold_repetition(), line[:80]
        expected = "fifty_moves" if board.is_fifty_moves() else "threefold_repetition"
        assert board.outcome(claim_draw=True).termination == expected
