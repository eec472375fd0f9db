"""The search driver: runs the C tree and the network off the UCI thread.

One driver thread alternates :meth:`SearchTree.gather` (C, GIL released) and
the network call (torch, GIL released), so the UCI thread answers ``isready``,
``stop`` and ``quit`` at any time. Info lines go out at least once a second.

``go nodes N`` counts as lc0 does: the search stops when the root holds N visits,
those reused from the previous move's tree included (``nodes`` in the info lines
is the same count; ``nps`` counts this search's playouts). Each gather may spend
lc0's collision budget for the tree's size (:func:`cython_ext.mcts.collision_budget`),
so minibatches stay small while the tree is small. Smart pruning stops a search
whose best move cannot change in the playouts left, by the clock or by ``nodes``.

Score mapping: the UCI ``cp`` value is lc0's ``90 * tan(1.5637541897 * Q)``
for Q = expected (win - loss) of the best move in [-1, 1]; proven mates are
``mate N`` (N moves, negative when we are mated).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np

from cython_ext.mcts import SearchTree, collision_budget
from cython_ext.position import Board
from uci.timeman import Budget

INFO_INTERVAL_S = 1.0
SMART_PRUNING_MIN_S = 0.05
CP_SCALE = 90.0
CP_ANGLE = 1.5637541897
MAX_CP = 12_800


def q_to_cp(q: float) -> int:
    """lc0's mapping of Q in [-1, 1] to centipawns.

    >>> q_to_cp(0.0), q_to_cp(0.5), q_to_cp(-0.5)
    (0, 89, -89)
    """
    q = max(-0.999, min(0.999, q))
    return int(max(-MAX_CP, min(MAX_CP, round(CP_SCALE * math.tan(CP_ANGLE * q)))))


class NetworkEvaluator(Protocol):
    """What the search needs of the network (:class:`engine.nn.evaluator.Evaluator` or a wrapper of it)."""

    def evaluate(self, planes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Policy logits ``[N, 1858]`` and WDL probabilities ``[N, 3]`` of ``planes`` ``[N, 112, 8, 8]``."""
        ...


@dataclass
class Limits:
    """What ``go`` asked for. ``budget`` is None unless a clock or movetime applies."""

    nodes: int | None = None
    depth: int | None = None
    budget: Budget | None = None
    infinite: bool = False
    ponder: bool = False
    search_moves: list[str] = field(default_factory=list)


@dataclass
class SearchParams:
    minibatch: int = 32
    multipv: int = 1
    show_wdl: bool = False
    smart_pruning: float = 1.33
    max_tree_bytes: int = 0


class Searcher:
    """Owns the tree and the search thread. ``send`` writes one UCI line."""

    def __init__(self, send: Callable[[str], None], tree: SearchTree) -> None:
        self.send = send
        self.tree = tree
        self.evaluator: NetworkEvaluator | None = None
        self.params = SearchParams()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._ponderhit = threading.Event()
        self._limits = Limits()
        self._start_time = 0.0
        self._active = False
        self._only_move = False

    @property
    def searching(self) -> bool:
        """True from ``go`` until ``bestmove`` is sent (the thread may outlive it briefly)."""
        return self._active

    def start(self, board: Board, limits: Limits) -> None:
        self.wait()
        self._stop.clear()
        self._ponderhit.clear()
        self._limits = limits
        self._start_time = time.monotonic()
        self._active = True
        self._thread = threading.Thread(target=self._run, args=(board.copy(), limits), daemon=True,
                                        name="search")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.wait()

    def ponderhit(self) -> None:
        """The expected move was played: the clock starts now and ponder mode ends."""
        self._start_time = time.monotonic()
        self._ponderhit.set()

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    # -- the thread -------------------------------------------------------

    def _run(self, board: Board, limits: Limits) -> None:
        try:
            self.search(board, limits)
        except Exception as error:  # never leave the GUI without a bestmove
            self.send(f"info string search error: {type(error).__name__}: {error}")
            legal = board.legal_moves
            self._send_bestmove(f"bestmove {legal[0] if legal else '0000'}")

    def _send_bestmove(self, line: str) -> None:
        # Clear the flag first: the GUI may send the next `go` as soon as it reads this line.
        self._active = False
        self.send(line)

    def search(self, board: Board, limits: Limits) -> None:
        """Search synchronously in the calling thread (the thread body; also used by `engine bench`)."""
        tree = self.tree
        legal = board.legal_moves
        if not legal:
            self.send("info depth 0 score " + ("mate 0" if board.is_check() else "cp 0"))
            self._send_bestmove("bestmove 0000")
            return
        self._only_move = len(legal) == 1
        tree.set_position(board)
        start_visits = tree.root_visits
        if not tree.root_expanded:
            self._step(1)
        if limits.search_moves:
            tree.exclude_root_moves([m for m in limits.search_moves if m in legal] or legal)
        last_info = time.monotonic()
        while not self._stop.is_set():
            pondering = limits.ponder and not self._ponderhit.is_set()
            playouts = tree.root_visits - start_visits
            if not (limits.infinite or pondering) and self._limits_reached(limits, playouts):
                break
            batch, remaining = self.params.minibatch, None
            if limits.nodes is not None and not (limits.infinite or pondering):
                remaining = max(limits.nodes - tree.root_visits, 1)
                batch = min(batch, remaining)
            progressed = self._step(batch, collision_budget(min(tree.root_visits, remaining or tree.root_visits)))
            now = time.monotonic()
            if now - last_info >= INFO_INTERVAL_S:
                self._send_info(board, start_visits)
                last_info = now
            if not progressed or (self.params.max_tree_bytes and tree.memory_bytes > self.params.max_tree_bytes):
                # Nothing left to search (proven result or memory bound): wait for stop if required.
                if limits.infinite or pondering:
                    self._stop.wait(0.01)  # bestmove only after stop / ponderhit (UCI rule)
                    continue
                break
        self._send_info(board, start_visits)
        best = tree.children()[0]["move"]
        pv = tree.principal_variation(best)
        self._send_bestmove(f"bestmove {best}" + (f" ponder {pv[1]}" if len(pv) > 1 else ""))

    def _step(self, batch: int, collisions: int = 1) -> bool:
        tree = self.tree
        before = tree.root_visits
        n = tree.gather(batch, collisions)
        if n:
            assert self.evaluator is not None, "set Searcher.evaluator before searching"
            policy, wdl = self.evaluator.evaluate(tree.planes[:n])
            tree.apply(policy, wdl)
        bound, _ = tree.root_bound
        # A gather of only collisions and no leaf still progressed if it backed up cache hits.
        return tree.root_visits > before and bound is None

    def _limits_reached(self, limits: Limits, playouts: int) -> bool:
        if limits.nodes is not None:
            visits = self.tree.root_visits
            if visits >= limits.nodes or self._nodes_settled(limits.nodes - visits, playouts):
                return True
        if limits.depth is not None and self.tree.leaves and \
                self.tree.depth_sum / self.tree.leaves >= limits.depth:
            return True
        if limits.budget is None:
            return False
        elapsed_ms = (time.monotonic() - self._start_time) * 1000
        if elapsed_ms >= limits.budget.hard_ms or elapsed_ms >= limits.budget.soft_ms:
            return True
        return self._best_move_settled(limits.budget.soft_ms - elapsed_ms, elapsed_ms, playouts)

    def _nodes_settled(self, remaining_visits: int, playouts: int) -> bool:
        """Smart pruning under ``go nodes`` (lc0): the runner-up cannot catch up in the visits left."""
        if self.params.smart_pruning <= 0 or playouts < 1:
            return False
        if self._only_move:
            return True
        first, second = self.tree.top_two_visits
        return first - second > remaining_visits / self.params.smart_pruning

    def _best_move_settled(self, remaining_ms: float, elapsed_ms: float, playouts: int) -> bool:
        """Smart pruning: the runner-up cannot catch up in the time left."""
        if self.params.smart_pruning <= 0 or elapsed_ms < SMART_PRUNING_MIN_S * 1000 or playouts < 1:
            return False
        if self._only_move:
            return True
        first, second = self.tree.top_two_visits
        expected = playouts / elapsed_ms * remaining_ms / self.params.smart_pruning
        return first - second > expected

    def _send_info(self, board: Board, start_visits: int) -> None:
        tree = self.tree
        elapsed = max(time.monotonic() - self._start_time, 1e-6)
        nodes = tree.root_visits
        playouts = nodes - start_visits
        depth = max(1, round(tree.depth_sum / tree.leaves)) if tree.leaves else 1
        kids = tree.children()
        for rank, child in enumerate(kids[: self.params.multipv], start=1):
            if child["visits"] == 0 and child["bound"] is None and rank > 1:
                break
            if child["bound"] == "win":
                score = f"mate {(child['plies'] + 1) // 2}"
            elif child["bound"] == "loss":
                score = f"mate -{max(child['plies'] // 2, 1)}"
            else:
                score = f"cp {q_to_cp(child['q'])}"
            line = (f"info depth {depth} seldepth {max(tree.max_depth, depth)} time {int(elapsed * 1000)} "
                    f"nodes {nodes} nps {int(playouts / elapsed)} score {score}")
            if self.params.show_wdl:
                w = round(500 * (1 + child["q"] - child["d"]))
                l = round(500 * (1 - child["q"] - child["d"]))
                line += f" wdl {w} {1000 - w - l} {l}"
            line += f" hashfull {tree.hashfull} multipv {rank} pv {' '.join(tree.principal_variation(child['move']))}"
            self.send(line)
