"""``engine perft``: leaf counts of the move generator, printed as Stockfish does.

``Nodes searched`` counts leaves. By default the last ply is bulk-counted (the
number of legal moves is added without playing them), as Stockfish's
``go perft`` does; ``--no-bulk`` plays and takes back every leaf move, which
measures make/unmake too.
"""

from __future__ import annotations

import argparse
import time

from cython_ext.position import STARTING_FEN, Board


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="engine perft", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("depth", type=int, help="plies to search (>= 1)")
    parser.add_argument("--fen", default=STARTING_FEN, help="position (default: start position)")
    parser.add_argument("--chess960", action="store_true",
                        help="Chess960 castling rules and king-takes-rook notation")
    parser.add_argument("--divide", action="store_true", help="print the count below each root move")
    parser.add_argument("--no-bulk", dest="bulk", action="store_false",
                        help="play every leaf move instead of counting them")
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.depth < 1:
        print("error: depth must be >= 1")
        return 2
    try:
        board = Board(args.fen, chess960=args.chess960)
    except ValueError as err:
        print(f"error: {err}")
        return 2
    start = time.perf_counter()
    if args.divide:
        total = 0
        for move, nodes in board.perft_divide(args.depth, bulk=args.bulk):
            print(f"{move}: {nodes}")
            total += nodes
        print()
    else:
        total = board.perft(args.depth, bulk=args.bulk)
    elapsed = max(time.perf_counter() - start, 1e-9)
    print(f"Nodes searched: {total}")
    print(f"Nodes/second: {int(total / elapsed)}")
    return 0
