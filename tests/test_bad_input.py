"""Malformed FEN and move strings raise ValueError with a message; nothing else escapes."""

from __future__ import annotations

import random

import pytest

from cython_ext.position import STARTING_FEN, Board


def parse_or_value_error(text: str) -> Board | None:
    try:
        return Board(text)
    except ValueError as err:
        assert str(err), text
        return None


def test_malformed_epd_torture_set(data_dir):
    parsed = rejected = 0
    for line in (data_dir / "malformed.epd").read_text().splitlines():
        fen = line.split(";")[0]
        board = parse_or_value_error(fen)
        if board is None:
            rejected += 1
        else:
            parsed += 1
            board.legal_moves  # a position we accept must be fully usable
            board.perft(2)
    assert parsed > 10 and rejected > 10


@pytest.mark.parametrize("fen, message", [
    ("", "fields"),
    ("rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP w KQkq - 0 1", "ranks"),
    ("rnbqkbnr/ppppippp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 0 1", "invalid character"),
    ("rnbqkbnr/pppppppp/8/6/8/8/PPPPPPPP/RNBQKBNR w KQkq - 0 1", "squares"),
    ("rnbqkbnr/pppppppp/44/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 0 1", "consecutive digits"),
    ("rnbq1bnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 0 1", "kings"),
    ("pnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 0 1", "pawn"),
    ("rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR x KQkq - 0 1", "side to move"),
    ("rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQxq - 0 1", "castling"),
    ("rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq e9 0 1", "square"),
    ("rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq e6 0 1", "en-passant"),
    ("rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - x 1", "halfmove"),
    ("4k3/8/8/8/8/8/8/R3K3 b - - 0 1", None),
    ("4k3/4R3/8/8/8/8/8/4K3 w - - 0 1", "not to move is in check"),
    ("QQQQkQQQ/QQQ5/8/8/8/8/8/4K3 b - - 0 1", "promoted"),
])
def test_fen_errors_name_the_problem(fen, message):
    if message is None:
        Board(fen)
        return
    with pytest.raises(ValueError, match=message):
        Board(fen)


def test_failed_set_fen_leaves_board_unchanged():
    board = Board()
    board.push_uci("e2e4")
    before = board.fen()
    with pytest.raises(ValueError):
        board.set_fen("garbage")
    assert board.fen() == before and board.move_stack == ["e2e4"]


@pytest.mark.parametrize("move, message", [
    ("e2e5", "illegal"), ("e7e5", "illegal"), ("e2", "invalid UCI"), ("e2e4qq", "invalid UCI"),
    ("z2e4", "invalid square"), ("e2e4x", "promotion"), ("0000", "null move"), ("e1g1", "illegal"),
])
def test_bad_moves(move, message):
    board = Board()
    with pytest.raises(ValueError, match=message):
        board.push_uci(move)
    assert board.fen() == STARTING_FEN


def test_promotion_needs_piece():
    board = Board("4k3/1P6/8/8/8/8/8/4K3 w - - 0 1")
    with pytest.raises(ValueError, match="illegal"):
        board.push_uci("b7b8")
    board.push_uci("b7b8n")
    assert board.fen() == "1N2k3/8/8/8/8/8/8/4K3 b - - 0 1"


def test_fuzzed_fens_only_raise_value_error():
    rng = random.Random(3)
    alphabet = "pnbrqkPNBRQK12345678/ wb-KQkqabcdefgh0"
    for _ in range(20_000):
        chars = list(STARTING_FEN)
        for _ in range(rng.randrange(1, 6)):
            op = rng.randrange(3)
            pos = rng.randrange(len(chars) + 1)
            if op == 0 and chars:
                chars.pop(min(pos, len(chars) - 1))
            elif op == 1:
                chars.insert(pos, rng.choice(alphabet))
            elif chars:
                chars[min(pos, len(chars) - 1)] = rng.choice(alphabet)
        board = parse_or_value_error("".join(chars))
        if board is not None:
            board.perft(2)


def test_pop_on_empty_board():
    with pytest.raises(IndexError):
        Board().pop()


def test_non_string_inputs():
    with pytest.raises(TypeError):
        Board(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Board().push_uci(None)  # type: ignore[arg-type]
