"""``engine bench``: a fixed search over fixed positions; the node total is the engine's signature.

Each position is searched from an empty tree and cache to ``--nodes`` playouts,
one search thread and one network thread, so the total is identical on every run
with the same net. Output ends with the two lines OpenBench parses.
"""

from __future__ import annotations

import argparse
import time

from cython_ext.mcts import SearchTree
from cython_ext.position import Board
from uci.options import DEFAULT_NET
from uci.search import Limits, Searcher

BENCH_POSITIONS = (
    "rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 0 1",
    "r3k2r/p1ppqpb1/bn2pnp1/3PN3/1p2P3/2N2Q1p/PPPBBPPP/R3K2R w KQkq - 0 1",
    "r1bqkb1r/pppp1ppp/2n2n2/4p3/2B1P3/5N2/PPPP1PPP/RNBQK2R w KQkq - 4 4",
    "r1bq1rk1/pp2bppp/2n1pn2/3p4/2PP4/2N1PN2/PP1B1PPP/R2QKB1R w KQ - 2 8",
    "2r3k1/pp3ppp/4p3/3pP3/3P4/P4N2/1P3PPP/2R3K1 b - - 0 22",
    "r4rk1/1pp1qppp/p1np1n2/2b1p1B1/2B1P1b1/P1NP1N2/1PP1QPPP/R4RK1 w - - 0 10",
    "8/2p5/3p4/KP5r/1R3p1k/8/4P1P1/8 w - - 0 1",
    "6k1/5ppp/8/8/8/8/5PPP/3R2K1 w - - 0 1",
    "4k3/8/8/8/8/8/4P3/4K3 w - - 0 1",
    "r2q1rk1/ppp2ppp/2n1bn2/2b1p3/3pP3/3P1NPP/PPP1NPB1/R1BQ1RK1 b - - 0 9",
    "8/8/1p6/p1p2k2/P1P5/1P3K2/8/8 w - - 0 40",
    "3r1rk1/p4ppp/1p6/2p1P3/2P2Q2/1P6/P5PP/5RK1 b - - 0 25",
)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="engine bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=400, help="playouts per position")
    parser.add_argument("--net", default=DEFAULT_NET, help="net file (default: the shipped default net)")
    parser.add_argument("--precision", default="auto", help="auto, fp32, amp, int8-dynamic or int8-static")
    parser.add_argument("--minibatch", type=int, default=32, help="leaves per network call")
    args = parser.parse_args(argv)

    from engine.evaluator import load_evaluator
    from engine.netfile import NetFileError
    from uci.protocol import default_net_path

    path = default_net_path() if args.net == DEFAULT_NET else args.net
    try:
        evaluator = load_evaluator(path, precision=args.precision, device="cpu", threads=1)
    except NetFileError as error:
        print(f"error: {error}")
        return 2
    print(f"info string {evaluator.describe()}")
    lines: list[str] = []
    searcher = Searcher(lines.append, SearchTree(max_batch=args.minibatch, cache_size=200_000))
    searcher.evaluator = evaluator
    searcher.params.minibatch = args.minibatch
    total = 0
    start = time.perf_counter()
    for index, fen in enumerate(BENCH_POSITIONS, start=1):
        searcher.tree.clear()
        lines.clear()
        searcher.search(Board(fen), Limits(nodes=args.nodes))
        nodes = searcher.tree.root_visits
        total += nodes
        print(f"Position: {index}/{len(BENCH_POSITIONS)} {fen}  {lines[-1]}  nodes {nodes}")
    elapsed = max(time.perf_counter() - start, 1e-9)
    print()
    print(f"Nodes searched: {total}")
    print(f"Nodes/second: {int(total / elapsed)}")
    return 0
