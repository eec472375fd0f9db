"""Move generator and encoder throughput, side by side with python-chess in one run.

    engine perftbench [--depth 6] [--baseline-depth 4]

Prints leaves/s for bulk perft (last ply counted, not played) and for
make/unmake perft (every leaf played), for this engine and python-chess on
the same positions, and input-encoding positions/s against a python-chess +
numpy encoder of the current position only (a lower bound on a Python encoder's
cost: it skips the seven history positions ours also encodes).
"""

from __future__ import annotations

import argparse
import random
import time

import chess
import numpy as np

from cython_ext.encoding import encode_batch
from cython_ext.position import STARTING_FEN, Board

KIWIPETE = "r3k2r/p1ppqpb1/bn2pnp1/3PN3/1p2P3/2N2Q1p/PPPBBPPP/R3K2R w KQkq - 0 1"


def python_chess_perft(board: chess.Board, depth: int, bulk: bool) -> int:
    if bulk and depth == 1:
        return board.legal_moves.count()
    if depth == 0:
        return 1
    total = 0
    for move in board.legal_moves:
        board.push(move)
        total += python_chess_perft(board, depth - 1, bulk)
        board.pop()
    return total


def timed(fn) -> tuple[int, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def python_chess_planes(board: chess.Board, out: np.ndarray) -> None:
    out[:] = 0
    us = board.turn
    for (square, piece) in board.piece_map().items():
        sq = square if us else chess.square_mirror(square)
        out[(piece.piece_type - 1) + (0 if piece.color == us else 6), sq // 8, sq % 8] = 1
    out[108] = float(not us)
    out[109] = board.halfmove_clock / 99
    out[111] = 1


def sample_positions(count: int, seed: int = 1) -> list[tuple[Board, chess.Board]]:
    rng = random.Random(seed)
    positions = []
    while len(positions) < count:
        ref = chess.Board()
        board = Board()
        for _ in range(rng.randrange(10, 80)):
            moves = list(ref.legal_moves)
            if not moves:
                break
            move = rng.choice(moves)
            ref.push(move)
            board.push_uci(move.uci())
        positions.append((board, ref))
    return positions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--depth", type=int, default=6, help="perft depth for this engine")
    parser.add_argument("--baseline-depth", type=int, default=4, help="perft depth shared with python-chess")
    parser.add_argument("--positions", type=int, default=2000, help="positions for the encoding benchmark")
    args = parser.parse_args(argv)

    print(f"{'benchmark':<44}{'this engine':>16}{'python-chess':>16}{'ratio':>9}")
    for name, fen in (("startpos", STARTING_FEN), ("kiwipete", KIWIPETE)):
        for bulk in (True, False):
            depth = args.baseline_depth
            ours, t_ours = timed(lambda: Board(fen).perft(depth, bulk=bulk))
            ref, t_ref = timed(lambda: python_chess_perft(chess.Board(fen), depth, bulk))
            assert ours == ref, (name, ours, ref)
            label = f"perft {name} d{depth} {'bulk' if bulk else 'make/unmake'} (leaves/s)"
            print(f"{label:<44}{ours / t_ours:>16,.0f}{ref / t_ref:>16,.0f}{(ours / t_ours) / (ref / t_ref):>8.0f}x")
    for bulk, depth in ((True, args.depth), (False, args.depth - 1)):
        nodes, elapsed = timed(lambda: Board().perft(depth, bulk=bulk))
        label = f"perft startpos d{depth} {'bulk' if bulk else 'make/unmake'} (leaves/s)"
        print(f"{label:<44}{nodes / elapsed:>16,.0f}{'-':>16}{'':>9}")

    positions = sample_positions(args.positions)
    boards = [b for b, _ in positions]
    out = np.empty((len(boards), 112, 8, 8), dtype=np.float32)
    encode_batch(boards, out)  # warm up
    repeats = 20
    _, t_ours = timed(lambda: [encode_batch(boards, out) for _ in range(repeats)])
    _, t_ref = timed(lambda: [python_chess_planes(r, out[i]) for i, (_, r) in enumerate(positions)])
    ours_rate = repeats * len(boards) / t_ours
    ref_rate = len(boards) / t_ref
    print(f"{'encode 112 planes (positions/s)':<44}{ours_rate:>16,.0f}{ref_rate:>16,.0f}{ours_rate / ref_rate:>8.0f}x")
    return 0
