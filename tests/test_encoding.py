"""lc0 encoding: planes and the 1858-move policy index against an independent reference."""

from __future__ import annotations

import random

import chess
import numpy as np
import pytest

from cython_ext import encoding
from cython_ext.position import Board
from lc0_reference import planes as reference_planes
from lc0_reference import policy_moves, policy_name

# Literal entries of lc0's policy_index (lczero-training tf/policy_index.py).
LC0_HEAD = ["a1b1", "a1c1", "a1d1", "a1e1", "a1f1", "a1g1", "a1h1", "a1a2", "a1b2", "a1c2", "a1a3",
            "a1b3", "a1c3", "a1a4", "a1d4", "a1a5", "a1e5", "a1a6", "a1f6", "a1a7", "a1g7", "a1a8",
            "a1h8", "b1a1", "b1c1"]
LC0_TAIL = ["g7h8q", "g7h8r", "g7h8b", "h7g8q", "h7g8r", "h7g8b", "h7h8q", "h7h8r", "h7h8b"]


def test_policy_table_matches_independent_version():
    assert list(encoding.POLICY_MOVES) == policy_moves()
    assert encoding.NUM_POLICY_MOVES == len(encoding.POLICY_MOVES) == 1858
    assert list(encoding.POLICY_MOVES[:25]) == LC0_HEAD
    assert list(encoding.POLICY_MOVES[-9:]) == LC0_TAIL
    assert encoding.POLICY_MOVES.index("h8g8") == 1791  # last non-promotion entry


def test_conv_policy_gather_is_a_bijection_onto_used_planes():
    gather = encoding.conv_policy_gather()
    assert len(set(gather.tolist())) == 1858 and gather.max() < 80 * 64
    # e2e4: direction N (plane 0..6), distance 2 -> plane 1, square e2 = 12.
    assert gather[encoding.POLICY_MOVES.index("e2e4")] == 1 * 64 + 12
    # g1f3: knight direction NW (-1, +2) is knight plane 7 -> channel 63.
    assert gather[encoding.POLICY_MOVES.index("g1f3")] == 63 * 64 + 6
    # a7b8q: promotion towards NE, queen -> channel 64 + 2 * 3 + 2 = 72.
    assert gather[encoding.POLICY_MOVES.index("a7b8q")] == 72 * 64 + 48


def random_positions(count: int, seed: int):
    """(our board, python-chess board) pairs from random games, some starting from FENs."""
    rng = random.Random(seed)
    fens = [chess.STARTING_FEN, "r3k2r/p1ppqpb1/bn2pnp1/3PN3/1p2P3/2N2Q1p/PPPBBPPP/R3K2R w KQkq - 0 1",
            "8/2p5/3p4/KP5r/1R3p1k/8/4P1P1/8 w - - 0 1", "4k3/1P6/8/8/8/8/6p1/4K3 b - - 3 40"]
    produced = 0
    while produced < count:
        ref = chess.Board(rng.choice(fens))
        board = Board(ref.fen())
        for _ in range(rng.randrange(1, 60)):
            moves = list(ref.legal_moves)
            if not moves:
                break
            if len(ref.move_stack) >= 2 and rng.random() < 0.2:
                prev = ref.move_stack[-2]
                back = chess.Move(prev.to_square, prev.from_square)
                move = back if back in moves else rng.choice(moves)
            else:
                move = rng.choice(moves)
            board.push_uci(ref.uci(move))
            ref.push(move)
            yield board, ref
            produced += 1


def test_planes_match_reference_on_random_positions():
    for board, ref in random_positions(3000, seed=7):
        np.testing.assert_array_equal(encoding.encode(board), reference_planes(ref), err_msg=ref.fen())


def test_policy_round_trip_for_every_legal_move():
    checked = 0
    for board, ref in random_positions(3000, seed=11):
        moves, indices = encoding.legal_policy(board)
        assert len(set(indices.tolist())) == len(moves)  # distinct moves never share an index
        by_uci = {ref.uci(m): m for m in ref.legal_moves}
        for uci, index in zip(moves, indices):
            assert encoding.POLICY_MOVES[index] == policy_name(ref, by_uci[uci]), (ref.fen(), uci)
            checked += 1
    assert checked > 50_000


def test_start_position_planes():
    planes = encoding.encode(Board())
    assert planes[0, 1].sum() == 8 and planes[0, 0].sum() == 0  # our pawns on rank 2
    assert planes[5, 0, 4] == 1  # our king on e1
    assert planes[6 + 5, 7, 4] == 1  # their king on e8
    assert planes[13:104].sum() == 0  # no history before the start array
    assert planes[104:108].min() == 1 and planes[108].sum() == 0
    assert planes[109].sum() == 0 and planes[111].min() == 1


def test_black_to_move_is_flipped_and_history_kept():
    board = Board()
    board.push_uci("e2e4")
    planes = encoding.encode(board)
    # Black to move: black pieces are "ours" and sit at the bottom after the flip.
    assert planes[0, 1].sum() == 8 and planes[5, 0, 4] == 1
    # Their e-pawn stands on e4, which is rank index 4 after flipping (e5 from black's view).
    assert planes[6, 4, 4] == 1
    # One ply ago: the pawn was still on e2 (rank index 6 after the flip).
    assert planes[13 + 6, 6, 4] == 1 and planes[13 + 6, 4, 4] == 0
    assert planes[108].min() == 1


def test_fen_history_fill_repeats_oldest_position():
    board = Board("4k3/8/8/8/8/8/4P3/4K3 w - - 7 30")
    planes = encoding.encode(board)
    for h in range(8):
        np.testing.assert_array_equal(planes[13 * h: 13 * h + 12], planes[0:12])
    assert planes[104:108].sum() == 0
    assert planes[109, 0, 0] == pytest.approx(7 / 99)


def test_repetition_plane():
    board = Board()
    for move in ("g1f3", "g8f6", "f3g1", "f6g8"):
        board.push_uci(move)
    planes = encoding.encode(board)
    assert planes[12].min() == 1  # the current position occurred before
    assert planes[13 + 12].sum() == 0


def test_encode_batch_and_bad_buffers():
    boards = [Board(), Board("4k3/8/8/8/8/8/4P3/4K3 b - - 0 1")]
    batch = encoding.encode_batch(boards)
    assert batch.shape == (2, 112, 8, 8)
    np.testing.assert_array_equal(batch[1], encoding.encode(boards[1]))
    with pytest.raises(ValueError):
        encoding.encode(Board(), out=np.zeros((10, 8, 8), dtype=np.float32))
    with pytest.raises(ValueError):
        encoding.encode(Board(), out=np.zeros((112, 8, 8), dtype=np.float64))
