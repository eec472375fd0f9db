"""Search speed of this engine against a plain Python MCTS, same net and batch, in one run.

    engine mctsbench [--nodes 400] [--net FILE] [--precision P] [--batch 32]

Both searches run the ``engine bench`` positions to the same playouts with the same evaluator
(one torch thread) and the same minibatch. Ours is the real bench search (Cython tree, C game
state and encoding, :class:`uci.search.Searcher` loop). The baseline, :class:`PythonMCTS`, is a
straightforward Python implementation of the same algorithm:

* python-chess for move generation, make/unmake (``push``/``pop``) and terminal checks;
* a PUCT tree of Python objects with lc0's cpuct schedule, first-play urgency and policy
  temperature (the same parameters as ours), virtual-loss batching with the same collision rule;
* lc0's 112 input planes built in numpy from the python-chess board, with the eight-position
  history (popped off the board and pushed back), repetition planes and the policy index table.

It skips what ours adds on top (NN cache, mate-in-one detection at expansion, proven-result
propagation), which saves it work. Prints nodes, seconds, the seconds spent in the evaluator
call, nodes/second, and nodes/second over the time outside the evaluator (the search's own
speed), with the ratios of ours to the baseline.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import chess
import numpy as np

from cython_ext.encoding import NUM_INPUT_PLANES, POLICY_MOVES
from cython_ext.mcts import SearchTree
from engine.bench.bench import BENCH_POSITIONS, BenchSearch, start_bench_command
from engine.bench.profile import TimedEvaluator
from uci.search import NetworkEvaluator

HISTORY_POSITIONS = 8
PLANES_PER_POSITION = 13


def _piece_bitboards(board: chess.Board) -> tuple[int, ...]:
    return (board.pawns, board.knights, board.bishops, board.rooks, board.queens, board.kings,
            board.occupied_co[chess.WHITE], board.occupied_co[chess.BLACK])


START_BITBOARDS = _piece_bitboards(chess.Board())
"""The standard starting array, which ends lc0's history fill."""
_POLICY_LOOKUP = {name: index for index, name in enumerate(POLICY_MOVES)}
FROM_TO_INDEX = [_POLICY_LOOKUP.get(chess.square_name(frm) + chess.square_name(to), -1)
                 for frm in chess.SQUARES for to in chess.SQUARES]
"""Policy index of a non-promotion (or knight-promotion) move, at ``from * 64 + to`` (white's view)."""
PROMOTION_INDEX = {(frm, to, piece): _POLICY_LOOKUP[chess.square_name(frm) + chess.square_name(to) + symbol]
                   for frm in chess.SquareSet(chess.BB_RANK_7) for to in chess.SquareSet(chess.BB_RANK_8)
                   if abs(chess.square_file(frm) - chess.square_file(to)) <= 1
                   for piece, symbol in ((chess.QUEEN, "q"), (chess.ROOK, "r"), (chess.BISHOP, "b"))}


def encode_planes(board: chess.Board, out: np.ndarray) -> None:
    """Write lc0's 112 input planes of ``board`` into ``out`` (float32, shape (112, 8, 8)).

    The history comes from ``board.move_stack``: up to seven moves are popped and pushed back.
    """
    us = board.turn
    masks: list[int] = []
    repeated: list[bool] = []
    popped: list[chess.Move] = []
    for h in range(HISTORY_POSITIONS):
        if h > 0 and not board.move_stack:
            # lc0's FEN_ONLY fill: the oldest known position repeats, unless it is the start array.
            if _piece_bitboards(board) != START_BITBOARDS:
                masks += masks[-12:] * (HISTORY_POSITIONS - h)
                repeated += repeated[-1:] * (HISTORY_POSITIONS - h)
            break
        if h > 0:
            popped.append(board.pop())
        for color in (us, not us):
            own = board.occupied_co[color]
            masks += [board.pawns & own, board.knights & own, board.bishops & own, board.rooks & own,
                      board.queens & own, board.kings & own]
        repeated.append(board.is_repetition(2))
    for move in reversed(popped):
        board.push(move)
    known = len(repeated)
    bits = np.unpackbits(np.array(masks, dtype=np.uint64).view(np.uint8), bitorder="little").reshape(known, 12, 8, 8)
    if us == chess.BLACK:
        bits = bits[:, :, ::-1, :]
    out[:] = 0.0
    history = out[: HISTORY_POSITIONS * PLANES_PER_POSITION].reshape(HISTORY_POSITIONS, PLANES_PER_POSITION, 8, 8)
    history[:known, :12] = bits
    history[:known, 12] = np.array(repeated, dtype=np.float32)[:, None, None]
    out[104] = board.has_queenside_castling_rights(us)
    out[105] = board.has_kingside_castling_rights(us)
    out[106] = board.has_queenside_castling_rights(not us)
    out[107] = board.has_kingside_castling_rights(not us)
    out[108] = us == chess.BLACK
    out[109] = board.halfmove_clock / 99.0
    out[111] = 1.0


def policy_indices(board: chess.Board, moves: list[chess.Move]) -> list[int]:
    """lc0 policy index of each legal move: side-to-move view, castling as king takes rook."""
    flip = 56 if board.turn == chess.BLACK else 0
    indices = []
    for move in moves:
        frm, to = move.from_square, move.to_square
        if board.is_castling(move) and not board.chess960:
            to = (to & 56) | (7 if to > frm else 0)
        frm ^= flip
        to ^= flip
        if move.promotion and move.promotion != chess.KNIGHT:
            indices.append(PROMOTION_INDEX[frm, to, move.promotion])
        else:
            indices.append(FROM_TO_INDEX[frm * 64 + to])
    return indices


def terminal_value(board: chess.Board, moves: list[chess.Move]) -> float | None:
    """Game result for the player who moved into ``board`` (1 win, 0 draw), None if the game goes on."""
    if not moves:
        return 1.0 if board.is_check() else 0.0
    if board.is_insufficient_material() or board.halfmove_clock >= 100 or board.is_repetition(2):
        return 0.0
    return None


@dataclass(frozen=True)
class Puct:
    """Search parameters (lc0's PUCT), taken from a :class:`SearchTree` so both searches match."""

    cpuct: float
    cpuct_base: float
    cpuct_factor: float
    fpu_value: float
    policy_temperature: float

    @classmethod
    def of(cls, tree: SearchTree) -> Puct:
        return cls(tree.cpuct, tree.cpuct_base, tree.cpuct_factor, tree.fpu_value, tree.policy_temperature)


class Node:
    """A tree node; values are for the player who moved into it. ``moves`` is None until expanded."""

    __slots__ = ("visits", "in_flight", "wl_sum", "moves", "priors", "children", "terminal")

    def __init__(self) -> None:
        self.visits = 0
        self.in_flight = 0
        self.wl_sum = 0.0
        self.moves: list[chess.Move] | None = None
        self.priors: list[float] = []
        self.children: list[Node | None] = []
        self.terminal: float | None = None


@dataclass
class Pending:
    """A leaf waiting for the network: its path from the root, legal moves and their policy indices."""

    path: list[Node]
    moves: list[chess.Move]
    indices: list[int]


class PythonMCTS:
    """Plain Python PUCT search with virtual-loss minibatches (see the module docstring).

    >>> from engine.nn.evaluator import make_evaluator
    >>> from engine.nn.model import NetConfig, random_net
    >>> config = NetConfig(filters=8, blocks=1)
    >>> mcts = PythonMCTS(make_evaluator(random_net(config), config, "fp32", device="cpu"), 8)
    >>> root = mcts.search(chess.Board(), 20)
    >>> root.visits >= 20 and sum(child.visits for child in root.children if child) == root.visits - 1
    True
    """

    def __init__(self, evaluator: NetworkEvaluator, minibatch: int, params: Puct | None = None) -> None:
        self.evaluator = evaluator
        self.minibatch = minibatch
        self.params = params or Puct.of(SearchTree(max_batch=1, cache_size=0))
        self.planes = np.zeros((minibatch, NUM_INPUT_PLANES, 8, 8), dtype=np.float32)

    def search(self, board: chess.Board, nodes: int) -> Node:
        """Search ``board`` (which has a legal move; restored on return) until the root has ``nodes`` visits.

        Returns the root. Its own evaluation is its first visit, so its children's visits sum to
        ``visits - 1``.
        """
        root = Node()
        self._step(board, root, 1)
        while root.visits < nodes:
            if not self._step(board, root, min(self.minibatch, max(nodes - root.visits, 1))):
                break
        return root

    @staticmethod
    def best_move(root: Node) -> chess.Move:
        """The most visited root move (the root must be expanded)."""
        assert root.moves is not None
        visits = [child.visits if child else 0 for child in root.children]
        return root.moves[visits.index(max(visits))]

    def _step(self, board: chess.Board, root: Node, batch: int) -> bool:
        before = root.visits
        pending = self._gather(board, root, batch)
        if pending:
            policy, wdl = self.evaluator.evaluate(self.planes[: len(pending)])
            self._apply(pending, policy, wdl)
        return root.visits > before

    def _gather(self, board: chess.Board, root: Node, limit: int) -> list[Pending]:
        pending: list[Pending] = []
        attempts = 0
        while len(pending) < limit and attempts < 2 * limit + 8:
            attempts += 1
            node = root
            path = [root]
            while True:
                if node.terminal is not None and len(path) > 1:
                    self._backup(path, node.terminal, release=False)
                    break
                if node.moves is None:
                    if node.in_flight:
                        break  # collision: this leaf already waits for the network
                    moves = list(board.legal_moves)
                    if len(path) > 1:
                        node.terminal = terminal_value(board, moves)
                        if node.terminal is not None:
                            continue
                    encode_planes(board, self.planes[len(pending)])
                    for visited in path:
                        visited.in_flight += 1
                    pending.append(Pending(path, moves, policy_indices(board, moves)))
                    break
                index = self._select(node)
                child = node.children[index]
                if child is None:
                    child = node.children[index] = Node()
                board.push(node.moves[index])
                path.append(child)
                node = child
            for _ in range(len(path) - 1):
                board.pop()
        return pending

    def _select(self, node: Node) -> int:
        params = self.params
        parent_n = node.visits + node.in_flight
        cpuct = params.cpuct + params.cpuct_factor * math.log((parent_n + params.cpuct_base) / params.cpuct_base)
        u_coef = cpuct * math.sqrt(max(parent_n, 1))
        visited_policy = sum(prior for prior, child in zip(node.priors, node.children) if child and child.visits)
        fpu = (-node.wl_sum / node.visits if node.visits else 0.0) - params.fpu_value * math.sqrt(visited_policy)
        best, best_score = 0, -math.inf
        for index, (prior, child) in enumerate(zip(node.priors, node.children)):
            n = 0
            q = fpu
            if child is not None:
                n = child.visits + child.in_flight
                if child.terminal is not None:
                    q = child.terminal
                elif n:
                    q = (child.wl_sum - child.in_flight) / n  # in-flight visits count as losses
            score = q + u_coef * prior / (1 + n)
            if score > best_score:
                best, best_score = index, score
        return best

    def _apply(self, pending: list[Pending], policy: np.ndarray, wdl: np.ndarray) -> None:
        inverse_temperature = 1.0 / max(self.params.policy_temperature, 1e-3)
        for row, leaf in enumerate(pending):
            logits = policy[row, leaf.indices]
            priors = np.exp((logits - logits.max()) * inverse_temperature)
            node = leaf.path[-1]
            node.moves = leaf.moves
            node.priors = (priors / priors.sum()).tolist()
            node.children = [None] * len(leaf.moves)
            self._backup(leaf.path, -float(wdl[row, 0] - wdl[row, 2]), release=True)

    @staticmethod
    def _backup(path: list[Node], value: float, release: bool) -> None:
        """One visit of ``value`` (for the player who moved into the leaf) along ``path``."""
        for node in reversed(path):
            node.visits += 1
            node.wl_sum += value
            if release:
                node.in_flight -= 1
            value = -value


def run_python_mcts(evaluator: NetworkEvaluator, minibatch: int, nodes: int, params: Puct) -> int:
    """Search every bench position with :class:`PythonMCTS`; returns the node total."""
    mcts = PythonMCTS(evaluator, minibatch, params)
    return sum(mcts.search(chess.Board(fen), nodes).visits for fen in BENCH_POSITIONS)


def main(argv: list[str] | None = None) -> int:
    started = start_bench_command("engine mctsbench", __doc__, argv)
    if started is None:
        return 2
    args, evaluator = started
    print(f"{len(BENCH_POSITIONS)} positions, {args.nodes} playouts each, minibatch {args.minibatch}")
    bench = BenchSearch(evaluator, args.minibatch)
    ours_network = TimedEvaluator(evaluator)
    bench.searcher.evaluator = ours_network
    start = time.perf_counter()
    ours = bench.run(args.nodes)
    ours_seconds = time.perf_counter() - start
    theirs_network = TimedEvaluator(evaluator)
    start = time.perf_counter()
    theirs = run_python_mcts(theirs_network, args.minibatch, args.nodes, Puct.of(bench.searcher.tree))
    theirs_seconds = time.perf_counter() - start

    rows = (("this engine", ours, ours_seconds, ours_network),
            ("plain Python MCTS", theirs, theirs_seconds, theirs_network))
    print(f"{'search':<20}{'nodes':>7}{'seconds':>9}{'network s':>11}{'nodes/s':>9}{'nodes/s w/o net':>17}")
    rates = []
    for name, nodes, seconds, network in rows:
        rates.append((nodes / seconds, nodes / max(seconds - network.seconds, 1e-9)))
        print(f"{name:<20}{nodes:>7}{seconds:>9.2f}{network.seconds:>11.2f}{rates[-1][0]:>9.0f}{rates[-1][1]:>17.0f}")
    print(f"{'ratio':<20}{'':>27}{rates[0][0] / rates[1][0]:>8.1f}x{rates[0][1] / rates[1][1]:>16.1f}x")
    return 0
