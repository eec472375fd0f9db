"""The search's lc0 rules, pinned on small trees: virtual visits, the collision budget, lost moves, `go nodes`.

A flat evaluator (the same policy logits and WDL for every position) keeps the trees predictable;
each test says which lc0 rule it pins (see docs/search-vs-lc0.md).
"""

from __future__ import annotations

import numpy as np
import pytest

from cython_ext.encoding import POLICY_MOVES
from cython_ext.mcts import SearchTree, collision_budget
from cython_ext.position import Board
from uci.search import Limits, Searcher

DRAWISH = np.array([0.3, 0.4, 0.3], np.float32)
BACK_RANK = "4r1k1/5ppp/8/8/8/8/5PPP/R5K1 w - - 0 1"
"""White to move: the rook leaving the first rank (7 of 20 moves) allows ...Re1 mate."""
BACK_RANK_BLUNDERS = {"a1a2", "a1a3", "a1a4", "a1a5", "a1a6", "a1a7", "a1e1"}


class FlatEvaluator:
    """Policy logits ``logits`` for every position (default: uniform), drawish WDL."""

    def __init__(self, logits: np.ndarray | None = None) -> None:
        self.logits = np.zeros(len(POLICY_MOVES), np.float32) if logits is None else logits
        self.calls = 0

    def evaluate(self, planes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.calls += 1
        n = len(planes)
        return np.tile(self.logits, (n, 1)), np.tile(DRAWISH, (n, 1))


def searcher(evaluator: FlatEvaluator, smart_pruning: float = 0.0) -> Searcher:
    search = Searcher(lambda line: None, SearchTree(max_batch=64, cache_size=0))
    search.evaluator = evaluator
    search.params.smart_pruning = smart_pruning
    return search


def expand_root(tree: SearchTree, evaluator: FlatEvaluator, fen: str = Board().fen()) -> None:
    tree.set_position(Board(fen))
    n = tree.gather(1)
    tree.apply(*evaluator.evaluate(tree.planes[:n]))


def test_collision_budget_follows_lc0_schedule() -> None:
    assert [collision_budget(n) for n in (1, 28, 29, 100, 200, 400, 800)] == [1, 1, 1, 7, 19, 47, 116]
    assert collision_budget(10**6) == 80_000


def test_virtual_visits_leave_q_alone_so_a_sure_move_is_not_spread() -> None:
    # One root move holds ~99% of the policy. lc0's virtual visit only shrinks its exploration
    # term, so the second descent goes to it again and collides: the minibatch ends at one leaf.
    # (Counting in-flight visits as losses sent the other 31 descents to 31 other moves.)
    logits = np.zeros(len(POLICY_MOVES), np.float32)
    logits[POLICY_MOVES.index("e2e4")] = 10.0
    evaluator = FlatEvaluator(logits)
    tree = SearchTree(max_batch=64, cache_size=0)
    expand_root(tree, evaluator)
    assert tree.gather(32, 1) == 1
    tree.apply(*evaluator.evaluate(tree.planes[:1]))
    # The collision's virtual visit is released by apply: the next gather finds a leaf again.
    assert tree.gather(32, 1) >= 1


def test_uniform_policy_fills_the_batch_with_distinct_moves() -> None:
    # With equal priors the virtual visits spread one descent to each of the 20 root moves before
    # the first collision.
    evaluator = FlatEvaluator()
    tree = SearchTree(max_batch=64, cache_size=0)
    expand_root(tree, evaluator)
    assert tree.gather(64, 1) == 20


def test_larger_budget_gathers_more_leaves_per_call() -> None:
    # e2e4 holds ~19% of the policy, the other moves ~4% each: after a few collisions on e2e4 its
    # exploration term falls below theirs, so a larger budget reaches further leaves.
    logits = np.zeros(len(POLICY_MOVES), np.float32)
    logits[POLICY_MOVES.index("e2e4")] = 2.0
    evaluator = FlatEvaluator(logits)
    sizes = []
    for budget in (1, 64):
        tree = SearchTree(max_batch=64, cache_size=0)
        expand_root(tree, evaluator)
        sizes.append(tree.gather(32, budget))
    assert sizes[0] == 1 and sizes[1] > 1


@pytest.mark.parametrize("minibatch", [1, 8, 32])
def test_moves_proven_lost_get_no_more_visits(minibatch: int) -> None:
    # lc0 zeroes the prior of a move proven to lose: once ...Re1# is found below a rook move, that
    # move gets no more visits however long the search runs.
    visits = {}
    for nodes in (200, 800):
        search = searcher(FlatEvaluator())
        search.params.minibatch = minibatch
        search.search(Board(BACK_RANK), Limits(nodes=nodes))
        children = {child["move"]: child for child in search.tree.children()}
        assert {m for m, c in children.items() if c["bound"] == "loss"} == BACK_RANK_BLUNDERS
        visits[nodes] = {m: children[m]["visits"] for m in BACK_RANK_BLUNDERS}
    assert visits[200] == visits[800]
    assert max(visits[800].values()) <= minibatch  # at most one batch in flight when proven


def test_go_nodes_counts_reused_visits_as_lc0_does() -> None:
    search = searcher(FlatEvaluator())
    board = Board()
    search.search(board, Limits(nodes=300))
    assert search.tree.root_visits == 300
    best = search.tree.children()[0]["move"]
    reply = search.tree.principal_variation(best)[1]
    board.push_uci(best)
    board.push_uci(reply)
    assert search.tree.set_position(board)  # the subtree is reused
    reused = search.tree.root_visits
    assert 0 < reused < 100
    search.search(board, Limits(nodes=100))
    assert search.tree.root_visits == 100  # reused visits + new playouts, not 100 new playouts


def test_nodes_search_stops_when_the_best_move_is_settled() -> None:
    # Smart pruning under `go nodes` (lc0): with one root move far ahead the search stops early;
    # without it, it runs to the limit.
    logits = np.zeros(len(POLICY_MOVES), np.float32)
    logits[POLICY_MOVES.index("e2e4")] = 10.0
    pruned, full = searcher(FlatEvaluator(logits), smart_pruning=1.33), searcher(FlatEvaluator(logits))
    pruned.search(Board(), Limits(nodes=800))
    full.search(Board(), Limits(nodes=800))
    assert full.tree.root_visits == 800
    assert pruned.tree.root_visits < 800
    assert pruned.tree.children()[0]["move"] == full.tree.children()[0]["move"] == "e2e4"


def test_only_move_is_played_after_one_playout_under_go_nodes() -> None:
    search = searcher(FlatEvaluator(), smart_pruning=1.33)
    search.search(Board("7k/8/8/8/8/8/6q1/7K w - - 0 1"), Limits(nodes=1000))  # Kxg2 only
    assert search.tree.root_visits <= 2
    assert search.tree.children()[0]["move"] == "h1g2"


def test_twofold_draw_is_undone_when_its_first_occurrence_leaves_the_tree() -> None:
    # Knights out and back: Nf3 Nf6 Ng1 Ng8 repeats the root inside the tree (a draw). After
    # Nf3 Nf6 are played, the start position is game history, not tree: the same line is a plain
    # position again (lc0's EnsureNodeTwoFoldCorrectForDepth), and its draw visits are taken back.
    logits = np.zeros(len(POLICY_MOVES), np.float32)
    for move in ("g1f3", "g8f6", "f3g1", "f6g8"):
        logits[POLICY_MOVES.index(move)] = 6.0
    search = searcher(FlatEvaluator(logits))
    board = Board()
    search.search(board, Limits(nodes=400))
    tree = search.tree
    back = {k["move"]: k for k in tree.children(["g1f3", "g8f6", "f3g1"])}["f6g8"]
    assert back["bound"] == "draw" and back["visits"] > 0
    under_ng1 = {k["move"]: k for k in tree.children(["g1f3", "g8f6"])}["f3g1"]["visits"]
    board.push_uci("g1f3")
    board.push_uci("g8f6")
    assert tree.set_position(board)
    after = {k["move"]: k for k in tree.children(["f3g1"])}
    assert after["f6g8"]["bound"] is None and after["f6g8"]["visits"] == 0
    assert {k["move"]: k for k in tree.children()}["f3g1"]["visits"] == under_ng1 - back["visits"]


@pytest.mark.parametrize("side_to_move_wdl, drawn", [((0.1, 0.3, 0.6), True), ((0.6, 0.3, 0.1), False)])
def test_a_leaf_whose_side_to_move_can_repeat_a_third_time_takes_the_draw_when_worse(
        side_to_move_wdl: tuple[float, float, float], drawn: bool) -> None:
    # After Nf3 Nf6 Ng1 Ng8 Nf3 Nf6, White's Ng1 lets Black play Ng8: the starting position a
    # third time. A worse-standing Black takes that draw, so Ng1 is worth a draw to White at
    # once, whether or not the search ever visits Ng8 (it has 1/22 of the policy here).
    evaluator = FlatEvaluator()
    wdl = np.array(side_to_move_wdl, np.float32)
    evaluator.evaluate = lambda planes: (np.zeros((len(planes), len(POLICY_MOVES)), np.float32),
                                         np.tile(wdl, (len(planes), 1)))
    search = searcher(evaluator)
    board = Board()
    for move in ("g1f3", "g8f6", "f3g1", "f6g8", "g1f3", "g8f6"):
        board.push_uci(move)
    search.search(board, Limits(nodes=300))
    children = {k["move"]: k for k in search.tree.children()}
    back = children["f3g1"]
    assert back["visits"] > 0
    below = sum(k["visits"] for k in search.tree.children(["f3g1"]))
    if drawn:
        assert back["bound"] == "draw" and back["q"] == 0.0 and back["d"] == 1.0
        assert below == 0  # a scored leaf, never searched below
    else:
        assert back["bound"] is None and below > 0
