"""``engine bench``: a fixed search over fixed positions; the node total is the engine's signature.

Each position is searched from an empty tree and cache to ``--nodes`` playouts,
one search thread and one network thread, so the total is identical on every run
with the same net. The net is warmed up by one batch before the clock starts.
Output ends with the two lines OpenBench parses.
"""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING, Callable

import numpy as np

from cython_ext.encoding import NUM_INPUT_PLANES
from cython_ext.mcts import SearchTree
from cython_ext.position import Board
from uci.options import DEFAULT_NET
from uci.search import Limits, Searcher

if TYPE_CHECKING:
    from engine.nn.evaluator import Evaluator

DEFAULT_NODES = 400
DEFAULT_MINIBATCH = 32
BENCH_CACHE_SIZE = 200_000

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


def add_search_arguments(parser: argparse.ArgumentParser) -> None:
    """The options shared by ``engine bench``, ``engine profile`` and ``engine.bench.mctsbench``."""
    parser.add_argument("--nodes", type=int, default=DEFAULT_NODES, help="playouts per position")
    parser.add_argument("--net", default=DEFAULT_NET, help="net file (default: the shipped default net)")
    parser.add_argument("--precision", default="auto", help="auto, fp32, amp, int8-dynamic or int8-static")
    parser.add_argument("--backend", default="auto", help="auto, torch or onnxruntime (as the UCI option Backend)")
    parser.add_argument("--minibatch", "--batch", dest="minibatch", type=int, default=DEFAULT_MINIBATCH,
                        help="leaves per network call")


def load_bench_evaluator(args: argparse.Namespace) -> Evaluator:
    """The evaluator named by the parsed options: CPU, one thread, warmed up by one batch.

    :raises engine.nn.netfile.NetFileError: when the net cannot be used at that precision.
    """
    from engine.nn.evaluator import load_evaluator
    from uci.protocol import default_net_path

    path = default_net_path(args.precision) if args.net == DEFAULT_NET else args.net
    evaluator = load_evaluator(path, precision=args.precision, device="cpu", threads=1, backend=args.backend)
    evaluator.evaluate(np.zeros((args.minibatch, NUM_INPUT_PLANES, 8, 8), dtype=np.float32))
    return evaluator


class BenchSearch:
    """The search as ``engine bench`` runs it: one :class:`Searcher` (tree and NN cache) over the bench positions.

    :ivar searcher: the real search driver; ``searcher.tree`` and ``searcher.evaluator`` may be
        instrumented by the caller.
    :ivar lines: the info lines of the position being searched.
    """

    def __init__(self, evaluator: Evaluator, minibatch: int) -> None:
        self.lines: list[str] = []
        self.searcher = Searcher(self.lines.append, SearchTree(max_batch=minibatch, cache_size=BENCH_CACHE_SIZE))
        self.searcher.evaluator = evaluator
        self.searcher.params.minibatch = minibatch

    def run(self, nodes: int, report: Callable[[int, str, str, int], None] | None = None) -> int:
        """Search every bench position from an empty tree and cache; returns the node total.

        :param report: called after each position with its number, FEN, last info line and nodes.
        """
        total = 0
        for index, fen in enumerate(BENCH_POSITIONS, start=1):
            self.searcher.tree.clear()
            self.lines.clear()
            self.searcher.search(Board(fen), Limits(nodes=nodes))
            visits = self.searcher.tree.root_visits
            total += visits
            if report is not None:
                report(index, fen, self.lines[-1], visits)
        return total


def start_bench_command(prog: str, description: str | None,
                        argv: list[str] | None) -> tuple[argparse.Namespace, Evaluator] | None:
    """Common start of bench, profile and mctsbench: parse the search options, load and announce
    the evaluator; None (after printing the error) when the net cannot be used."""
    parser = argparse.ArgumentParser(prog=prog, description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_search_arguments(parser)
    args = parser.parse_args(argv)

    from engine.nn.netfile import NetFileError

    try:
        evaluator = load_bench_evaluator(args)
    except NetFileError as error:
        print(f"error: {error}")
        return None
    print(f"info string {evaluator.describe()}")
    return args, evaluator


def main(argv: list[str]) -> int:
    started = start_bench_command("engine bench", __doc__, argv)
    if started is None:
        return 2
    args, evaluator = started
    bench = BenchSearch(evaluator, args.minibatch)

    def report(index: int, fen: str, info: str, nodes: int) -> None:
        print(f"Position: {index}/{len(BENCH_POSITIONS)} {fen}  {info}  nodes {nodes}")

    start = time.perf_counter()
    total = bench.run(args.nodes, report)
    elapsed = max(time.perf_counter() - start, 1e-9)
    print()
    print(f"Nodes searched: {total}")
    print(f"Nodes/second: {int(total / elapsed)}")
    return 0
